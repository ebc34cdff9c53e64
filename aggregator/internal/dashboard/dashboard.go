// Package dashboard serves the owner's pages: echo handlers that build the
// web module's view models from the aggregator's service and render its
// templ components. Handlers read the service only; components never see
// storage or configuration.
package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/aggregator/internal/server"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/static"
)

// Service is what the dashboard reads from the aggregator's core.
type Service interface {
	Branches() []service.BranchStatus
	Branch(id string) (service.BranchDetail, bool)
	EachMetric(branch string, from, to time.Time) iter.Seq[metrics.Document]
	// EachFigures is one branch's documents of a range with their dates,
	// for pages that show figures only.
	EachFigures(branch string, from, to time.Time) iter.Seq2[time.Time, metrics.Document]
	// Series is every branch's business series and their version (which
	// changes with the index served).
	Series() (map[string]*business.Branch, uint64)
	Alerts() ([]alert.Problem, []alert.Record)
	LastSync() service.SyncStatus
	Refresh(ctx context.Context) error
	Now() time.Time
}

// DefaultRefreshTimeout bounds the sync that the refresh button starts.
const DefaultRefreshTimeout = 90 * time.Second

// Options configures the dashboard.
type Options struct {
	Service Service
	// Location shows times that belong to no branch (last sync, alert
	// history) and dates the compare page's ranges.
	Location *time.Location
	// RefreshTimeout bounds the refresh button's sync (DefaultRefreshTimeout
	// when zero).
	RefreshTimeout time.Duration
	// NoPageCache renders the overview and the branch pages on every
	// request instead of once per sync and minute: the load benchmark uses
	// it to measure what the pages themselves cost.
	NoPageCache bool
	// BranchPageBytes bounds the rendered branch pages kept
	// (DefaultBranchPageBytes when zero).
	BranchPageBytes int64
	// Tags are each branch's tags by id (EXPECTED_BRANCHES' id:tag+tag):
	// the overview groups and searches by them.
	Tags   map[string][]string
	Logger *slog.Logger
}

// Dashboard is the set of page handlers.
type Dashboard struct {
	svc            Service
	loc            *time.Location
	refreshTimeout time.Duration
	noPageCache    bool
	log            *slog.Logger
	overview       pageCache
	branches       branchCache
	rows           overviewCache
	tags           map[string][]string
	readings       readingCache
	assets         http.Handler
	csrf           *http.CrossOriginProtection
}

// New checks the options and builds the dashboard.
func New(o Options) (*Dashboard, error) {
	if o.Service == nil {
		return nil, errors.New("dashboard: no service")
	}
	if o.Location == nil {
		return nil, errors.New("dashboard: no location")
	}
	if o.RefreshTimeout <= 0 {
		o.RefreshTimeout = DefaultRefreshTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := fs.Stat(static.FS, "app.css"); err != nil {
		return nil, fmt.Errorf("dashboard: embedded assets: %w", err)
	}
	if o.BranchPageBytes < 0 {
		return nil, errors.New("dashboard: BranchPageBytes is negative")
	}
	if o.BranchPageBytes == 0 {
		o.BranchPageBytes = DefaultBranchPageBytes
	}
	return &Dashboard{
		svc: o.Service, loc: o.Location, refreshTimeout: o.RefreshTimeout, noPageCache: o.NoPageCache, tags: o.Tags,
		log:      o.Logger.With("component", "dashboard"),
		assets:   http.StripPrefix(static.Prefix, http.FileServerFS(static.FS)),
		csrf:     http.NewCrossOriginProtection(),
		branches: branchCache{max: o.BranchPageBytes},
	}, nil
}

// Register adds the dashboard's routes to e behind auth: it has the shape
// of the aggregator server's route registrar.
func (d *Dashboard) Register(e *echo.Echo, auth echo.MiddlewareFunc) {
	e.GET("/", d.overviewPage, auth)
	e.GET("/branches/:id", d.branchPage, auth)
	e.GET("/compare", d.comparePage, auth)
	e.GET("/alerts", d.alertsPage, auth)
	e.GET("/deployments", d.deploymentsPage, auth)
	// A cross-site form cannot make the aggregator sync on a logged-in
	// browser's behalf: Sec-Fetch-Site / Origin must be same-origin.
	e.POST("/refresh", d.refresh, auth, echo.WrapMiddleware(d.csrf.Handler))
	e.GET(static.Prefix+"*", d.asset, auth)
}

// Render renders t into a buffer and sends it as HTML with the status: a
// component that fails half-way gives a clean error, not half a page.
func Render(c echo.Context, status int, t templ.Component) error {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := t.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render %s: %w", c.Request().URL.Path, err)
	}
	return sendHTML(c, status, buf.Bytes())
}

// pageBuffers keep the buffers pages are rendered into from one request
// to the next, through garbage collections (a sync.Pool drops its items
// at each): a branch page of 90 days is a quarter of a megabyte, and
// growing a new buffer to that size for every request doubles what the
// page allocates.
var pageBuffers = make(chan *bytes.Buffer, 64)

// maxKeptBuffer is the largest buffer kept for another page.
const maxKeptBuffer = 4 << 20

func getBuffer() *bytes.Buffer {
	select {
	case b := <-pageBuffers:
		return b
	default:
		return new(bytes.Buffer)
	}
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxKeptBuffer {
		return
	}
	b.Reset()
	select {
	case pageBuffers <- b:
	default:
	}
}

// sendHTML writes an HTML page; figures behind a login are kept by no
// cache, the browser's included (the server sets no-store on every answer
// too; the page says so itself wherever its handler is mounted).
func sendHTML(c echo.Context, status int, page []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	// A known length spares the chunked framing of a large page.
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(page)))
	return c.HTMLBlob(status, page)
}

// asset serves the embedded stylesheet and script; a request carrying the
// current version may be cached for good.
func (d *Dashboard) asset(c echo.Context) error {
	if fi, err := fs.Stat(static.FS, c.Param("*")); err != nil || fi.IsDir() {
		return d.notFound(c, "No such file.")
	}
	h := c.Response().Header()
	if c.QueryParam("v") == static.Version {
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(echo.HeaderCacheControl, "no-cache")
	}
	d.assets.ServeHTTP(c.Response(), c.Request())
	return nil
}

// Routes builds the dashboard for the aggregator's server, reading svc and
// showing times in the configured default zone. It has the shape of
// app.RouteBuilder: pass it to app.Main or app.Config.Routes.
func Routes(svc *service.Service, o options.Options, logger *slog.Logger) (server.Registrar, error) {
	d, err := New(Options{Service: svc, Location: o.Location, Tags: o.Tags, Logger: logger})
	if err != nil {
		return nil, err
	}
	return d.Register, nil
}
