package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// hookCounter is a loopback webhook counting each alert text it took.
type hookCounter struct {
	mu  sync.Mutex
	got map[string]int
	// refusing answers 503 and counts nothing: the channel is down.
	refusing atomic.Bool
}

func newHookCounter(t *testing.T) (*hookCounter, string) {
	h := &hookCounter{got: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.refusing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var p struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&p)
		h.mu.Lock()
		h.got[p.Text]++
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL + "/hooks/startup"
}

func (h *hookCounter) total() (n int, dup bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range h.got {
		n += k
		dup = dup || k > 1
	}
	return n, dup
}

// startOver builds and runs the whole aggregator (dashboard included) over
// the S3 server with dataDir, without waiting for a good sync; stop ends it.
func startOver(t *testing.T, srv *testenv.S3Server, dataDir string, env map[string]string) (url string, a *app.App, logs *syncBuffer, stop func()) {
	t.Helper()
	vars := srv.Env()
	maps.Copy(vars, env)
	return startWith(t, dataDir, vars, func() time.Time { return now })
}

// startWith is startOver on the bucket that env names (BACKUP_S3_*), with
// the clock now.
func startWith(t *testing.T, dataDir string, env map[string]string, now func() time.Time) (url string, a *app.App, logs *syncBuffer, stop func()) {
	t.Helper()
	vars := map[string]string{options.EnvListen: "127.0.0.1:0", options.EnvDataDir: dataDir, options.EnvToken: token}
	maps.Copy(vars, env)
	o, err := options.Load(config.NewReader(config.MapLookup(vars)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	a, err = app.Build(o, app.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Routes: []app.RouteBuilder{dashboard.Routes},
		Now: now, AlertOptions: func(ao *alert.Options) { ao.MinBackoff, ao.MaxBackoff = time.Millisecond, 5*time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- a.Run(ctx, ready) }()
	select {
	case addr := <-ready:
		url = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("aggregator stopped at start: %v", err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("aggregator stopped with %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return url, a, logs, stop
}

func apiBranches(t *testing.T, url string) []struct {
	ID      string                         `json:"id"`
	Metrics struct{ State, Reason string } `json:"metrics_check"`
	Backup  struct{ State, Reason string } `json:"backup_check"`
} {
	t.Helper()
	_, body := get(t, url+"/api/v1/branches", bearer)
	var out struct {
		Branches []struct {
			ID      string                         `json:"id"`
			Metrics struct{ State, Reason string } `json:"metrics_check"`
			Backup  struct{ State, Reason string } `json:"backup_check"`
		} `json:"branches"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return out.Branches
}

// TestBucketUnreadableFromTheStart: with expected branches and a bucket
// that refuses every request from the first second, every expected branch
// is listed as unknown with the reason (API and overview), nothing is
// alerted; across a restart and the bucket's recovery each real problem
// is alerted exactly once.
func TestBucketUnreadableFromTheStart(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refusing.Load() {
				http.Error(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	refusing.Store(false)
	fixture.PutDoc(t, srv.Store(t), fixture.Doc("andheri", "2026-02-16", 1))
	refusing.Store(true)
	hook, hookURL := newHookCounter(t)
	dataDir := t.TempDir()
	env := map[string]string{options.EnvExpected: "bandra,andheri", options.EnvWebhookURL: hookURL}

	url, a, _, stop := startOver(t, srv, dataDir, env)
	if err := a.Service.Refresh(context.Background()); err == nil {
		t.Fatal("a sync against a refusing bucket succeeded")
	}
	bs := apiBranches(t, url)
	if len(bs) != 2 || bs[0].ID != "andheri" || bs[1].ID != "bandra" {
		t.Fatalf("/api/v1/branches = %+v, want andheri and bandra", bs)
	}
	for _, b := range bs {
		if b.Metrics.State != "unknown" || b.Backup.State != "unknown" || !strings.Contains(b.Metrics.Reason, "failed") {
			t.Errorf("%s: %+v, want unknown checks with the reason", b.ID, b)
		}
	}
	_, page := get(t, url+"/", bearer)
	if strings.Contains(string(page), "No branches yet") || !strings.Contains(string(page), `data-branch-id="bandra"`) ||
		!strings.Contains(string(page), `data-state="unknown"`) {
		t.Errorf("overview does not list the expected branches as unknown:\n%s", page)
	}
	_, detail := get(t, url+"/api/v1/branches/bandra", bearer)
	if !strings.Contains(string(detail), `"state":"unknown"`) {
		t.Errorf("/api/v1/branches/bandra = %s, want its unknown checks", detail)
	}
	resp, branchPage := get(t, url+"/branches/bandra", bearer)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(branchPage), `data-state="unknown"`) ||
		!strings.Contains(string(branchPage), "every sync of the bucket so far has failed") {
		t.Errorf("/branches/bandra: %d, want its page with unknown checks and the reason:\n%s", resp.StatusCode, branchPage)
	}
	a.Service.Observe() // even judged, unknown is not a problem to alert
	// Nor is a morning digest sent from a bucket never read (it is past
	// DIGEST_TIME): it would say no branch reported.
	if now := a.Service.Now(); a.Digest().Tick(now) {
		t.Errorf("the morning digest was queued at %s while every sync had failed", now)
	}
	if h := a.Notifier.History(); len(h) != 0 {
		t.Errorf("alerts raised while the bucket was never read: %+v", h)
	}
	stop()

	// Restart, still refused: nothing; then the bucket answers.
	url, a, _, _ = startOver(t, srv, dataDir, env)
	if err := a.Service.Refresh(context.Background()); err == nil {
		t.Fatal("a sync against a refusing bucket succeeded")
	}
	refusing.Store(false)
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	bs = apiBranches(t, url)
	if len(bs) != 2 || bs[1].Metrics.State != "never" {
		t.Fatalf("after the bucket answered: %+v, want bandra never seen", bs)
	}
	waitUntil(t, "the alerts to be delivered", func() bool { return a.Notifier.Pending() == 0 && len(a.Notifier.History()) > 0 })
	raised := len(a.Notifier.History())
	a.Service.Observe()

	// A last restart: the same problems are not alerted again.
	_, a2, _, _ := startOver(t, srv, dataDir, env)
	if err := a2.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "nothing pending", func() bool { return a2.Notifier.Pending() == 0 })
	if got := len(a2.Notifier.History()); got != raised {
		t.Errorf("history %d records after the restart, want %d (nothing new)", got, raised)
	}
	n, dup := hook.total()
	if n != raised || dup {
		t.Errorf("webhook took %d alerts (duplicates: %t), want each of the %d once", n, dup, raised)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, 30*time.Second, cond)
}

// TestDamagedFilesAtStart: a damaged alerts.json and index snapshot are
// moved aside and logged; the aggregator starts, syncs, and alerts each
// new problem once; problems older than the damaged history are not sent
// again.
func TestDamagedFilesAtStart(t *testing.T) {
	srv := testenv.StartS3(t)
	fixture.PutDoc(t, srv.Store(t), fixture.Doc("andheri", "2026-02-16", 1))
	dataDir := t.TempDir()
	for name, junk := range map[string]string{alert.HistoryFile: `{"history":[{"id":1,`, index.SnapshotFile: "not a gob"} {
		if err := os.WriteFile(filepath.Join(dataDir, name), []byte(junk), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	hook, hookURL := newHookCounter(t)
	env := map[string]string{options.EnvExpected: "bandra", options.EnvWebhookURL: hookURL}
	_, a, logs, _ := startOver(t, srv, dataDir, env)
	for _, name := range []string{alert.HistoryFile, index.SnapshotFile} {
		if m, _ := filepath.Glob(filepath.Join(dataDir, name+".corrupt-*")); len(m) != 1 {
			t.Errorf("%s not moved aside: %v", name, m)
		}
		if !strings.Contains(logs.String(), name+".corrupt-") {
			t.Errorf("moving %s aside was not logged", name)
		}
	}
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// bandra has never reported (no since): it was failing before the
	// damaged history was written, so it is taken as already alerted.
	waitUntil(t, "nothing pending", func() bool { return a.Notifier.Pending() == 0 })
	for _, r := range a.Notifier.History() {
		if r.Branch == "bandra" {
			t.Errorf("bandra, failing since before the damaged history, was alerted again: %+v", r)
		}
	}
	if _, dup := hook.total(); dup {
		t.Error("an alert was delivered twice")
	}
	if _, err := os.Stat(filepath.Join(dataDir, index.SnapshotFile)); err != nil {
		t.Errorf("no new snapshot after a good sync: %v", err)
	}
}

// TestUnwritableDataDir: serve refuses to start, naming the variable.
func TestUnwritableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runMain(map[string]string{options.EnvBucketDir: t.TempDir(), options.EnvDataDir: file,
		options.EnvToken: token, options.EnvListen: "127.0.0.1:0"}, "serve")
	if code != 1 || !strings.Contains(errs, "AGGREGATOR_DATA_DIR") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("exit %d, stderr %q: want 1 and one line naming AGGREGATOR_DATA_DIR", code, errs)
	}
}

// TestBidiNamesAreStripped: a branch name carrying a right-to-left
// override and other controls is shown without them on every page, in
// the API's name and in the alert text.
func TestBidiNamesAreStripped(t *testing.T) {
	srv := testenv.StartS3(t)
	doc := fixture.Doc("evil", "2026-02-16", 1)
	doc.BranchName = "Salon \u202Eexe.gnp\u2066 \u200Fbar\x1b[31m"
	fixture.PutDoc(t, srv.Store(t), doc)
	url, a, _, _ := startOver(t, srv, t.TempDir(), nil)
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Service.Observe()
	waitUntil(t, "an alert", func() bool { return len(a.Notifier.History()) > 0 })
	const shown = "Salon exe.gnp bar[31m"
	// (The API's copy of the document itself, "latest", is data kept as
	// stored, like the CSV export; the branch's "name" is what is shown.)
	_, body := get(t, url+"/api/v1/branches", bearer)
	var api struct {
		Branches []struct{ Name string } `json:"branches"`
	}
	if err := json.Unmarshal(body, &api); err != nil || len(api.Branches) != 1 || api.Branches[0].Name != shown {
		t.Errorf("/api/v1/branches name: %+v (%v), want %q", api, err, shown)
	}
	for _, p := range []string{"/", "/alerts", "/branches/evil", "/compare", "/api/v1/alerts"} {
		_, body := get(t, url+p, bearer)
		if strings.ContainsAny(string(body), "\u202E\u2066\u200F\x1b") || strings.Contains(string(body), `\u202e`) {
			t.Errorf("%s shows a bidi or control character", p)
		}
		if !strings.Contains(string(body), shown) {
			t.Errorf("%s does not show the name as %q", p, shown)
		}
	}
}
