package dashboard_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	user     = "owner"
	password = "correct horse battery staple"
	token    = "0123456789abcdef0123456789abcdef"
)

// now is the tests' clock: 2026-02-17 12:00 IST, after the 16th's deadlines
// (21:45 and 22:00 plus grace) and before the 17th's.
var now = time.Date(2026, 2, 17, 12, 0, 0, 0, fixture.IST)

// The bucket of the tests: two healthy branches, one stale (its last
// document and dump six days old), one expected that never reported.
const (
	healthy   = "branch-andheri"
	withBad   = "branch-bandra"
	stale     = "branch-colaba"
	neverSeen = "branch-dadar"
	lastDay   = "2026-02-16"
	staleDay  = "2026-02-10"
	days      = 30
	dumpBytes = 6000
)

// bucket is what was put in the bucket, for computing expected figures.
type bucket struct {
	docs map[string][]metrics.Document // by branch, oldest first
	bad  map[string]int
}

// seed fills st with the tests' bucket.
func seed(t testing.TB, st store.Store) bucket {
	t.Helper()
	b := bucket{docs: map[string][]metrics.Document{}, bad: map[string]int{}}
	for i, br := range []struct {
		id, last string
	}{{healthy, lastDay}, {withBad, lastDay}, {stale, staleDay}} {
		for d := range days {
			date := fixture.Date(br.last, d-days+1)
			doc := fixture.Doc(br.id, date, int64(i*100+d))
			fixture.PutDoc(t, st, doc)
			b.docs[br.id] = append(b.docs[br.id], doc)
		}
		for d := range 10 {
			day, _ := time.Parse("2006-01-02", fixture.Date(br.last, d-9))
			fixture.PutBackup(t, st, br.id, time.Date(day.Year(), day.Month(), day.Day(), 22, 0, 5, 0, time.UTC), dumpBytes+d)
		}
	}
	// A document breaking an invariant, kept as bad for its branch.
	bad := fixture.Doc(withBad, "2026-01-01", 7)
	bad.NetRevenue++
	fixture.Put(t, st, fixture.MetricsKey(withBad, "2026-01-01"), fixture.Encode(bad), nil)
	b.bad[withBad] = 1
	return b
}

// latest is a branch's newest document.
func (b bucket) latest(id string) metrics.Document {
	d := b.docs[id]
	return d[len(d)-1]
}

// env is an App over st with the dashboard's routes, synced once, reached
// through httptest (handler tests) or a real listener (the browser test).
type env struct {
	App *app.App
	h   http.Handler
}

func newEnv(t testing.TB, st store.Store, extra map[string]string) *env {
	t.Helper()
	return newEnvWith(t, st, extra, app.Config{Routes: []app.RouteBuilder{dashboard.Routes}})
}

// newEnvWith is newEnv with the App's configuration (its routes) given.
func newEnvWith(t testing.TB, st store.Store, extra map[string]string, cfg app.Config) *env {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		options.EnvListen: "127.0.0.1:0", options.EnvDataDir: t.TempDir(), options.EnvBucketDir: "unused",
		options.EnvUser: user, options.EnvPasswordBcrypt: string(hash), options.EnvToken: token,
		options.EnvExpected: healthy + ":mumbai+premium," + neverSeen + ":mumbai",
	}
	maps.Copy(vars, extra)
	o, err := options.Load(config.NewReader(config.MapLookup(vars)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Now = st, func() time.Time { return now }
	a, err := app.Build(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	return &env{App: a, h: a.Server.Handler()}
}

// s3Env is newEnv over a loopback S3 server seeded with the tests' bucket.
func s3Env(t testing.TB) (*env, bucket, store.Store) {
	t.Helper()
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	b := seed(t, st)
	return newEnv(t, st, nil), b, st
}

type cred func(*http.Request)

var (
	noCred cred = func(*http.Request) {}
	basic  cred = func(r *http.Request) { r.SetBasicAuth(user, password) }
	bearer cred = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
)

// do serves one request through the App's handler.
func (e *env) do(t testing.TB, method, target string, c cred, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	c(req)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Result()
}

// page GETs target with basic auth, checks the status and parses the HTML.
func (e *env) page(t testing.TB, target string, wantStatus int) *goquery.Document {
	t.Helper()
	resp := e.do(t, http.MethodGet, target, basic, nil, nil)
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d, want %d: %.300s", target, resp.StatusCode, wantStatus, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: Content-Type %q", target, ct)
	}
	d, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func byTestID(s *goquery.Selection, id string) *goquery.Selection {
	return s.Find(`[data-testid="` + id + `"]`)
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func row(d *goquery.Document, branch string) *goquery.Selection {
	return d.Find(`[data-testid="branch-row"][data-branch-id="` + branch + `"]`)
}

// serve runs the App on a loopback port until the test ends and returns
// its base URL.
func (e *env) serve(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- e.App.Run(ctx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("app stopped at start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app stopped with %v", err)
		}
	})
	return "http://" + addr
}
