package app_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// clock is a settable test clock.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// s3Env is the settings of a bucket behind url (a proxy or the server).
func s3Env(srv *testenv.S3Server, url string, extra map[string]string) map[string]string {
	env := srv.Env()
	env["BACKUP_S3_ENDPOINT"] = url
	env[options.EnvBucketDir] = ""
	maps.Copy(env, extra)
	return env
}

// settled waits for the refresh loop's first sync, which starts with the
// app and would otherwise land among the syncs a test counts.
func settled(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for r.App.Service.LastSync().Syncs < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the refresh loop's first sync did not run within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readyz(t *testing.T, url string) int {
	t.Helper()
	resp, _ := get(t, url+"/readyz", noCred)
	return resp.StatusCode
}

func syncAlerts(h []alert.Record, kind alert.Kind) []alert.Record {
	var out []alert.Record
	for _, r := range h {
		if r.Branch == "" && r.Check == "sync" && r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// TestStalledResponse: a proxy that sends the headers and 10 bytes of a
// metrics document and then stalls once stopped every sync and alert.
// Now the sync is cancelled at AGGREGATOR_SYNC_TIMEOUT and counted as
// failed, later syncs still run, one sync-failure alert goes out after
// AGGREGATOR_SYNC_ALERT_AFTER and one recovery alert after the first good
// sync, and /readyz turns 503 while the data is stale, then 200.
func TestStalledResponse(t *testing.T) {
	srv := testenv.StartS3(t)
	direct := srv.Store(t)
	seed(t, direct)
	proxy := fixture.StartStallProxy(t, srv.URL)
	st := proxy.S3Store(t, srv)
	clk := newClock(now)
	hook, hookURL := newHookCounter(t)
	const syncTimeout = 2 * time.Second
	r := start(t, st, s3Env(srv, proxy.URL, map[string]string{
		options.EnvSyncTimeout: syncTimeout.String(), options.EnvSyncAlertAfter: "30m", options.EnvRefreshInterval: "5m",
		options.EnvWebhookURL: hookURL,
	}), app.Config{Now: clk.now, AlertOptions: func(ao *alert.Options) { ao.MinBackoff, ao.MaxBackoff = time.Millisecond, 5*time.Millisecond }})
	settled(t, r)
	if code := readyz(t, r.URL); code != http.StatusOK {
		t.Fatalf("/readyz after a good sync = %d", code)
	}

	// A new document arrives, and its download stalls after 10 bytes.
	key := fixture.PutDoc(t, direct, fixture.Doc("andheri", "2026-02-17", 3))
	proxy.Stall(func(r *http.Request) bool { return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, key) })
	before := r.App.Service.LastSync()
	failSync := func(step string) {
		t.Helper()
		began := time.Now()
		err := r.App.Service.RefreshIncremental(context.Background())
		took := time.Since(began)
		if err == nil {
			t.Fatalf("%s: a sync through a stalled answer succeeded", step)
		}
		// The deadline plus slack for a loaded machine; before the fix it
		// never returned.
		if took > syncTimeout+20*time.Second {
			t.Fatalf("%s: the stalled sync took %s, deadline %s", step, took, syncTimeout)
		}
	}
	failSync("first")
	if proxy.Stalled.Load() == 0 {
		t.Fatal("the proxy stalled nothing: the test does not test a stall")
	}
	s := r.App.Service.LastSync()
	if s.Syncs != before.Syncs+1 || s.Failures != before.Failures+1 {
		t.Errorf("syncs %d→%d failures %d→%d: the stalled sync is not counted", before.Syncs, s.Syncs, before.Failures, s.Failures)
	}
	if !strings.Contains(s.Problem, "did not finish within 2s") || !strings.Contains(s.Problem, "cannot read "+key) {
		t.Errorf("problem = %q", s.Problem)
	}
	if n := len(syncAlerts(r.App.Notifier.History(), alert.KindDown)); n != 0 {
		t.Errorf("%d sync alerts before AGGREGATOR_SYNC_ALERT_AFTER", n)
	}

	// 20 minutes of failures: stale for /readyz (3 × 5m), no alert yet.
	clk.add(20 * time.Minute)
	failSync("after 20m")
	if code := readyz(t, r.URL); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a good sync 20m old = %d, want 503", code)
	}
	if n := len(syncAlerts(r.App.Notifier.History(), alert.KindDown)); n != 0 {
		t.Errorf("%d sync alerts after 20m, want none before 30m", n)
	}
	// Past 30 minutes: one alert, and only one however long it lasts.
	clk.add(11 * time.Minute)
	failSync("after 31m")
	clk.add(10 * time.Minute)
	failSync("after 41m")
	down := syncAlerts(r.App.Notifier.History(), alert.KindDown)
	if len(down) != 1 {
		t.Fatalf("sync-failure alerts = %d, want 1: %+v", len(down), r.App.Notifier.History())
	}
	if txt := down[0].Text; !strings.Contains(txt, "cannot read the bucket") || !strings.Contains(txt, "cannot read "+key) {
		t.Errorf("alert text = %q", txt)
	}
	_, body := get(t, r.URL+"/metrics", bearer)
	for series, want := range map[string]float64{"branchwatch_sync_alert": 1, "branchwatch_sync_failing": 1, "branchwatch_sync_failures_total": float64(before.Failures + 4)} {
		if got := sample(string(body), series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	_, body = get(t, r.URL+"/api/v1/alerts", bearer)
	var alerts struct {
		Current []alert.Problem `json:"current"`
	}
	if err := json.Unmarshal(body, &alerts); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	found := false
	for _, p := range alerts.Current {
		found = found || (p.Check == "sync" && p.State == "down")
	}
	if !found {
		t.Errorf("current problems lack the sync check: %s", body)
	}

	// The server answers again: the next sync succeeds, one recovery.
	proxy.Stall(nil)
	for range 2 {
		clk.add(time.Minute)
		if err := r.App.Service.RefreshIncremental(context.Background()); err != nil {
			t.Fatalf("sync after the stall ended: %v", err)
		}
	}
	if n := len(syncAlerts(r.App.Notifier.History(), alert.KindRecovered)); n != 1 {
		t.Errorf("recovery alerts = %d, want 1", n)
	}
	if n := len(syncAlerts(r.App.Notifier.History(), alert.KindDown)); n != 1 {
		t.Errorf("sync-failure alerts = %d after recovery, want still 1", n)
	}
	if code := readyz(t, r.URL); code != http.StatusOK {
		t.Errorf("/readyz after recovery = %d, want 200", code)
	}
	// Each reached the webhook once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		down, up := hook.containing("cannot read the bucket"), hook.containing("reads the bucket again")
		if down == 1 && up == 1 {
			break
		}
		if down > 1 || up > 1 || time.Now().After(deadline) {
			t.Fatalf("webhook got %d sync-failure and %d recovery alerts, want 1 and 1", down, up)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d, ok := r.App.Service.Branch("andheri"); !ok || d.LastMetricsDate != "2026-02-17" {
		t.Errorf("the stalled document was not read after recovery: %+v", d.LastMetricsDate)
	}
}

// TestSyncFailureInWords: a bucket that refuses access is named in one
// line of words, not the SDK's error with its request ids.
func TestSyncFailureInWords(t *testing.T) {
	var deny atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(fixture.DenyAccess(&deny)))
	st := srv.Store(t)
	seed(t, st)
	r := start(t, st, s3Env(srv, srv.URL, nil), app.Config{})
	deny.Store(true)
	if err := r.App.Service.Refresh(context.Background()); err == nil {
		t.Fatal("a sync of a bucket that denies access succeeded")
	}
	s := r.App.Service.LastSync()
	if want := "cannot list the bucket salon-backups: access denied"; s.Problem != want {
		t.Errorf("problem = %q, want %q", s.Problem, want)
	}
	// The details keep the server's error code; request ids stay in the
	// store's debug log (shared/store maps S3 errors to words).
	if !strings.Contains(s.LastError, "(AccessDenied)") {
		t.Errorf("the details lost the error code: %q", s.LastError)
	}
	if strings.Contains(s.LastError, fixture.DeniedRequestID) {
		t.Errorf("a request id reached the details: %q", s.LastError)
	}
}

// containing counts the alerts taken whose text holds sub.
func (h *hookCounter) containing(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for text, k := range h.got {
		if strings.Contains(text, sub) {
			n += k
		}
	}
	return n
}

// TestSyncRetryIsLogged: the aggregator's S3 client logs each retry (the
// request, the attempt, the wait) to the aggregator's log, as the agent's
// does; a burst of 503s on the listing is retried and the sync succeeds.
func TestSyncRetryIsLogged(t *testing.T) {
	var burst atomic.Int32
	srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("list-type") && burst.Add(-1) >= 0 {
				http.Error(w, "SlowDown", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	secSeed(t, srv.Store(t), map[string]string{"powai": "Powai"})
	a := startSecApp(t, srv, nil)
	burst.Store(2)
	if err := a.App.Service.Refresh(context.Background()); err != nil {
		t.Fatalf("a sync through two 503s failed: %v", err)
	}
	var retries int
	for line := range strings.SplitSeq(a.Logs.String(), "\n") {
		var l struct{ Msg, Component, Op string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "S3 request failed, retrying" {
			retries++
			if l.Component != "s3" || l.Op == "" {
				t.Errorf("retry line without component s3 or op: %s", line)
			}
		}
	}
	if retries != 2 {
		t.Errorf("%d retry lines logged for two 503s, want 2:\n%s", retries, a.Logs.String())
	}
}
