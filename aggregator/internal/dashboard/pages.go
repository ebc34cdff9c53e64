package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/web/components"
	"github.com/branchwatch/branchwatch/web/view"
)

// overviewPage is GET /[?sort=state|name|revenue][&q=search][&page=N].
// The branches' rows are worked out once per sync and minute
// (overviewData); a page without a search is the same for every viewer
// until then, so it is put together once per (sync, minute, sort, page)
// and served from memory, gzipped or not; a search is put together per
// request from the same rows.
func (d *Dashboard) overviewPage(c echo.Context) error {
	sort := view.ParseSortKey(c.QueryParam("sort"))
	q := strings.TrimSpace(c.QueryParam("q"))
	n, _ := strconv.Atoi(c.QueryParam("page")) // anything else is page 1
	now := d.svc.Now()
	st := d.svc.LastSync()
	key := cacheKey{syncs: st.Syncs, failures: st.Failures, attempt: st.LastAttempt.UnixNano(), minute: now.Unix() / 60, sort: sort}
	od := d.overviewData(now, key)
	key.page, _, _ = view.PageBounds(len(od.rows), n)
	ctx := c.Request().Context()
	model := func() (view.OverviewPage, error) { return od.page(ctx, d.syncStatus(st), sort, q, n) }
	if d.noPageCache || q != "" {
		p, err := model()
		if err != nil {
			return err
		}
		return Render(c, http.StatusOK, components.Overview(p))
	}
	pg, err := d.overview.get(key, func() ([]byte, error) {
		p, err := model()
		if err != nil {
			return nil, err
		}
		return renderBytes(ctx, components.Overview(p))
	})
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if acceptsGzip(c.Request()) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		return sendHTML(c, http.StatusOK, pg.gz)
	}
	return sendHTML(c, http.StatusOK, pg.raw)
}

// branchPage is GET /branches/:id[?days=N | ?from=&to=].
func (d *Dashboard) branchPage(c echo.Context) error {
	id := c.Param("id")
	// Only a valid branch id is looked up: nothing from the URL reaches a
	// key or a path unless it is a plain a-z0-9- segment.
	if layout.ValidateBranchID(id) != nil {
		return d.notFound(c, "There is no branch with that id.")
	}
	if d.noPageCache {
		det, ok := d.svc.Branch(id)
		if !ok {
			return d.notFound(c, "There is no branch with that id.")
		}
		return Render(c, http.StatusOK, components.Branch(d.branchModel(det, c.QueryParams())))
	}
	// The page is the same for every viewer until the next sync or
	// minute: it is rendered once per (sync, minute, branch, query) and
	// served from memory, gzipped or not.
	st := d.svc.LastSync()
	key := branchKey{
		data: cacheKey{syncs: st.Syncs, failures: st.Failures, attempt: st.LastAttempt.UnixNano(), minute: d.svc.Now().Unix() / 60},
		id:   id, query: c.Request().URL.RawQuery,
	}
	pg := d.branches.get(key)
	if pg == nil {
		det, ok := d.svc.Branch(id)
		if !ok {
			return d.notFound(c, "There is no branch with that id.")
		}
		buf := getBuffer()
		defer putBuffer(buf)
		if err := components.Branch(d.branchModel(det, c.QueryParams())).Render(c.Request().Context(), buf); err != nil {
			return fmt.Errorf("render %s: %w", c.Request().URL.Path, err)
		}
		// The kept page is a copy of its exact size, the buffer goes back.
		raw := bytes.Clone(buf.Bytes())
		pg = d.branches.put(key, raw)
	}
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if acceptsGzip(c.Request()) {
		gz, err := pg.gzipped()
		if err != nil {
			return err
		}
		h.Set(echo.HeaderContentEncoding, "gzip")
		return sendHTML(c, http.StatusOK, gz)
	}
	return sendHTML(c, http.StatusOK, pg.raw)
}

// comparePage is GET /compare[?days=N | ?from=&to=][&branch=id...].
func (d *Dashboard) comparePage(c echo.Context) error {
	return Render(c, http.StatusOK, components.Compare(d.compareModel(c.QueryParams())))
}

// alertsPage is GET /alerts.
func (d *Dashboard) alertsPage(c echo.Context) error {
	return Render(c, http.StatusOK, components.Alerts(d.alertsModel()))
}

// refresh is POST /refresh: sync now, then back to the overview, which
// shows the outcome (a failed sync shows as a banner there). The sync
// outlives a client that gives up waiting, within refreshTimeout.
func (d *Dashboard) refresh(c echo.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), d.refreshTimeout)
	defer cancel()
	if err := d.svc.Refresh(ctx); err != nil {
		d.log.Warn("refresh from the dashboard failed", "err", err)
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

func (d *Dashboard) notFound(c echo.Context, msg string) error {
	return Render(c, http.StatusNotFound, components.ErrorPage(view.ErrorPage{Status: http.StatusNotFound, Title: "Not found", Message: msg}))
}

// csvURL is the export of a range for people (rupees, headings in words,
// a file named for the branches and the range), for the given branches
// (branch= repeated) or, with none, every branch.
func csvURL(r view.Range, branches ...string) string {
	q := url.Values{"from": {r.FromText()}, "to": {r.ToText()}, "units": {"rupees"}, "headers": {"labels"}}
	if len(branches) > 0 {
		q["branch"] = branches
	}
	return "/export.csv?" + q.Encode()
}

// downloadURL is the API route that redirects to a short-lived presigned
// URL of one backup.
func downloadURL(branch, name string) string {
	return "/api/v1/branches/" + url.PathEscape(branch) + "/backups/" + url.PathEscape(name) + "/download"
}

// acceptsGzip reports whether the client takes a gzipped response.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAcceptEncoding), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			return strings.ReplaceAll(params, " ", "") != "q=0"
		}
	}
	return false
}
