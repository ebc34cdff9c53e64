// Package api serves the aggregator's data as JSON under /api/v1/ and as
// CSV at /export.csv. Handlers only read through the Reader interface.
package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/csvexport"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Reader is what the handlers need of the service.
type Reader interface {
	Branches() []service.BranchStatus
	Branch(id string) (service.BranchDetail, bool)
	EachMetric(branch string, from, to time.Time) iter.Seq[metrics.Document]
	BadDocuments() []service.BadDocument
	Alerts() ([]alert.Problem, []alert.Record)
	LastSync() service.SyncStatus
	IgnoredPrefixes() []string
	Refresh(ctx context.Context) error
	PresignBackup(ctx context.Context, branch, name string) (string, error)
}

// RefreshTimeout bounds an on-demand refresh requested over HTTP (inside
// the server's write timeout).
const RefreshTimeout = 90 * time.Second

// Handlers holds the routes' dependencies.
type Handlers struct {
	R Reader
}

// Register adds every route to e (authentication is the caller's).
func (h Handlers) Register(e *echo.Echo) {
	// "/api/v1/" and "/api/v1/branches/" answer as without the slash.
	e.Pre(middleware.RemoveTrailingSlashWithConfig(middleware.TrailingSlashConfig{
		Skipper: func(c echo.Context) bool { return !strings.HasPrefix(c.Request().URL.Path, "/api/v1/") },
	}))
	g := e.Group("/api/v1")
	e.GET("/api/v1", h.index)
	g.GET("/openapi.json", h.openAPI)
	g.GET("/branches", h.branches)
	g.GET("/branches/:id", h.branch)
	g.GET("/branches/:id/metrics", h.branchMetrics)
	g.GET("/branches/:id/drills", h.branchDrills)
	g.GET("/branches/:id/agent", h.branchAgent)
	g.GET("/deployments", h.deployments)
	g.GET("/branches/:id/backups/:name/download", h.download)
	g.GET("/metrics", h.metrics)
	g.GET("/bad-documents", h.badDocuments)
	g.GET("/alerts", h.alerts)
	g.GET("/sync", h.sync)
	// A cross-site form must not make a logged-in browser start syncs.
	g.POST("/refresh", h.refresh, echo.WrapMiddleware(http.NewCrossOriginProtection().Handler))
	e.GET("/export.csv", h.exportCSV)
}

func (h Handlers) branches(c echo.Context) error {
	bs := h.R.Branches()
	if bs == nil {
		bs = []service.BranchStatus{}
	}
	ignored := h.R.IgnoredPrefixes()
	if ignored == nil {
		ignored = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"branches": bs, "sync": h.R.LastSync(), "ignored_prefixes": ignored})
}

// branchID reads the :id parameter; only a valid branch id is accepted,
// so that "..", "a%2Fb" and the like never reach a lookup or a key.
func branchID(c echo.Context) (string, error) {
	id := c.Param("id")
	if layout.ValidateBranchID(id) != nil {
		return "", echo.NewHTTPError(http.StatusNotFound, "no such branch")
	}
	return id, nil
}

func (h Handlers) branch(c echo.Context) error {
	id, err := branchID(c)
	if err != nil {
		return err
	}
	d, ok := h.R.Branch(id)
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such branch")
	}
	return c.JSON(http.StatusOK, d)
}

func (h Handlers) branchMetrics(c echo.Context) error {
	id, err := branchID(c)
	if err != nil {
		return err
	}
	if _, ok := h.R.Branch(id); !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such branch")
	}
	from, to, err := dateRange(c, false)
	if err != nil {
		return err
	}
	return streamDocuments(c, h.R.EachMetric(id, from, to))
}

func (h Handlers) metrics(c echo.Context) error {
	branch, err := branchFilter(c, h.R)
	if err != nil {
		return err
	}
	from, to, err := dateRange(c, false)
	if err != nil {
		return err
	}
	return streamDocuments(c, h.R.EachMetric(branch, from, to))
}

// streamDocuments writes {"documents":[...]} one document at a time.
func streamDocuments(c echo.Context, docs iter.Seq[metrics.Document]) error {
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	resp.WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(resp, 64<<10)
	enc := json.NewEncoder(w)
	if _, err := w.WriteString(`{"documents":[`); err != nil {
		return err
	}
	first := true
	for d := range docs {
		if !first {
			if err := w.WriteByte(','); err != nil {
				return err
			}
		}
		first = false
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	if _, err := w.WriteString("]}\n"); err != nil {
		return err
	}
	return w.Flush()
}

func (h Handlers) badDocuments(c echo.Context) error {
	bad := h.R.BadDocuments()
	if bad == nil {
		bad = []service.BadDocument{}
	}
	return c.JSON(http.StatusOK, map[string]any{"bad_documents": bad})
}

func (h Handlers) alerts(c echo.Context) error {
	cur, hist := h.R.Alerts()
	if cur == nil {
		cur = []alert.Problem{}
	}
	if hist == nil {
		hist = []alert.Record{}
	}
	return c.JSON(http.StatusOK, map[string]any{"current": cur, "history": hist})
}

func (h Handlers) sync(c echo.Context) error {
	return c.JSON(http.StatusOK, h.R.LastSync())
}

func (h Handlers) refresh(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), RefreshTimeout)
	defer cancel()
	err := h.R.Refresh(ctx)
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
	}
	return c.JSON(status, h.R.LastSync())
}

func (h Handlers) download(c echo.Context) error {
	id, err := branchID(c)
	if err != nil {
		return err
	}
	u, err := h.R.PresignBackup(c.Request().Context(), id, c.Param("name"))
	switch {
	case errors.Is(err, service.ErrUnknownBackup):
		return echo.NewHTTPError(http.StatusNotFound, "no such backup")
	case errors.Is(err, service.ErrNoPresign):
		return echo.NewHTTPError(http.StatusNotImplemented, err.Error())
	case err != nil:
		return echo.NewHTTPError(http.StatusBadGateway, "could not make a download link")
	}
	return c.Redirect(http.StatusFound, u)
}

// exportCSV streams /export.csv?from=&to=[&branch=...][&units=rupees];
// branch may be repeated to export several branches.
func (h Handlers) exportCSV(c echo.Context) error {
	from, to, err := dateRange(c, true)
	if err != nil {
		return err
	}
	branches, err := branchesFilter(c, h.R)
	if err != nil {
		return err
	}
	units, err := csvexport.ParseUnits(c.QueryParam("units"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	labels, err := csvexport.ParseHeaders(c.QueryParam("headers"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	name := "branchwatch-metrics_" + dateText(from) + "_" + dateText(to) + exportNameSuffix(branches)
	if labels {
		name = exportNamePrefix(branches) + "_" + dateText(from) + "_to_" + dateText(to)
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	resp.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.csv"`, name))
	resp.WriteHeader(http.StatusOK)
	return writeCSV(resp, eachMetricOf(h.R, branches, from, to), units, labels)
}

// exportNamePrefix names the owner's download by what it holds:
// "branch-andheri", "branch-andheri_branch-bandra", "5-branches" or
// "all-branches".
func exportNamePrefix(branches []string) string {
	if len(branches) == 0 {
		return "all-branches"
	}
	return strings.TrimPrefix(exportNameSuffix(branches), "_")
}

// maxNamedBranches is how many branch ids an export's file name spells
// out; a larger selection is named by its size.
const maxNamedBranches = 3

// exportNameSuffix names the selection in the export's file name: nothing
// for every branch, "_id" for one (as before), "_a_b" for a few, "_N-branches"
// for more. Ids are a-z0-9-, so nothing here needs quoting.
func exportNameSuffix(branches []string) string {
	switch {
	case len(branches) == 0:
		return ""
	case len(branches) > maxNamedBranches:
		return fmt.Sprintf("_%d-branches", len(branches))
	}
	sorted := slices.Sorted(slices.Values(branches))
	return "_" + strings.Join(sorted, "_")
}

// eachMetricOf is the documents of the given branches (every branch when
// none is given), in the same order as an export of every branch.
func eachMetricOf(r Reader, branches []string, from, to time.Time) iter.Seq[metrics.Document] {
	switch len(branches) {
	case 0:
		return r.EachMetric("", from, to)
	case 1:
		return r.EachMetric(branches[0], from, to)
	}
	want := make(map[string]bool, len(branches))
	for _, b := range branches {
		want[b] = true
	}
	return func(yield func(metrics.Document) bool) {
		for d := range r.EachMetric("", from, to) {
			if want[d.BranchID] && !yield(d) {
				return
			}
		}
	}
}

// WriteCSV writes the documents as the export's CSV.
func WriteCSV(w interface{ Write([]byte) (int, error) }, docs iter.Seq[metrics.Document], units csvexport.Units) error {
	return writeCSV(w, docs, units, false)
}

func writeCSV(w interface{ Write([]byte) (int, error) }, docs iter.Seq[metrics.Document], units csvexport.Units, labels bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := csvexport.NewEncoder(bw)
	enc.SetUnits(units)
	enc.SetLabels(labels)
	for d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func dateText(t time.Time) string { return t.Format(layout.DateFormat) }

// branchFilter reads an optional ?branch= that must name a known branch.
func branchFilter(c echo.Context, r Reader) (string, error) {
	b := c.QueryParam("branch")
	if b == "" {
		return "", nil
	}
	if err := knownBranch(r, b); err != nil {
		return "", err
	}
	return b, nil
}

// branchesFilter reads ?branch=, possibly repeated; every non-empty value
// must name a known branch, with the same errors as branchFilter (a
// malformed id anywhere is a 400 before any lookup's 404). None selects
// every branch (nil); duplicates are dropped, order kept.
func branchesFilter(c echo.Context, r Reader) ([]string, error) {
	var out []string
	for _, b := range c.QueryParams()["branch"] {
		if b != "" && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	for _, b := range out {
		if layout.ValidateBranchID(b) != nil {
			return nil, errNotABranchID()
		}
	}
	for _, b := range out {
		if err := knownBranch(r, b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// errNotABranchID is a fresh error each time: echo errors are pointers.
func errNotABranchID() error {
	return echo.NewHTTPError(http.StatusBadRequest, "branch: not a branch id")
}

// knownBranch accepts a valid id of a branch the reader knows.
func knownBranch(r Reader, b string) error {
	if layout.ValidateBranchID(b) != nil {
		return errNotABranchID()
	}
	if _, ok := r.Branch(b); !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such branch")
	}
	return nil
}

// dateRange reads ?from= and ?to= (YYYY-MM-DD); both are required when
// required is set, else a missing one leaves that end open.
func dateRange(c echo.Context, required bool) (time.Time, time.Time, error) {
	var out [2]time.Time
	for i, name := range []string{"from", "to"} {
		v := c.QueryParam(name)
		if v == "" {
			if required {
				return out[0], out[1], echo.NewHTTPError(http.StatusBadRequest, name+" is required (YYYY-MM-DD)")
			}
			continue
		}
		t, err := layout.ParseRangeBound(v)
		if err != nil {
			return out[0], out[1], echo.NewHTTPError(http.StatusBadRequest, name+": not a date (YYYY-MM-DD)")
		}
		out[i] = t
	}
	if !out[0].IsZero() && !out[1].IsZero() && out[1].Before(out[0]) {
		return out[0], out[1], echo.NewHTTPError(http.StatusBadRequest, "to is before from")
	}
	return out[0], out[1], nil
}
