package app_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// revokingProxy forwards to the real server. Armed, it runs revoke once,
// before forwarding the first request that matches: the key dies between
// two requests of one sync, as when the owner deletes it mid-run.
type revokingProxy struct {
	URL string

	mu      sync.Mutex
	match   func(*http.Request) bool
	revoke  func() error
	revoked atomic.Int32
	err     error
}

func startRevokingProxy(t *testing.T, srv *testenv.RealS3) *revokingProxy {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// The client signs the proxy's Host, which the proxy passes on.
	fwd := httputil.NewSingleHostReverseProxy(target)
	fwd.ErrorLog = log.New(io.Discard, "", 0)
	p := &revokingProxy{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if p.match != nil && p.match(r) {
			p.match = nil
			if p.err = p.revoke(); p.err == nil {
				p.revoked.Add(1)
			}
		}
		p.mu.Unlock()
		fwd.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// arm makes the next request matching match revoke first.
func (p *revokingProxy) arm(match func(*http.Request) bool, revoke func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.revoke = match, revoke
}

// bothUp fails unless andheri and bandra are listed with both checks up:
// a sync that failed must not take a branch down.
func bothUp(t *testing.T, url, step string) {
	t.Helper()
	bs := apiBranches(t, url)
	if len(bs) != 2 {
		t.Fatalf("%s: /api/v1/branches = %+v, want andheri and bandra", step, bs)
	}
	for _, b := range bs {
		if b.Metrics.State != "up" || b.Backup.State != "up" {
			t.Errorf("%s: %s is %s/%s (%s; %s), want up/up", step, b.ID, b.Metrics.State, b.Backup.State, b.Metrics.Reason, b.Backup.Reason)
		}
	}
}

// branchAlerts is every alert of a branch (the sync's carry none).
func branchAlerts(h []alert.Record) []alert.Record {
	var out []alert.Record
	for _, r := range h {
		if r.Branch != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestKeyRevokedMidRun runs the aggregator on versitygw with the
// read-only key of production. The owner deletes the key (admin API)
// between a sync's listing and its download of a new document. The syncs
// fail naming the cause in words; no branch goes down and no branch is
// alerted from the failed sync's partial view; /readyz turns 503 after
// three refresh intervals; one sync-failure alert goes out after
// AGGREGATOR_SYNC_ALERT_AFTER, held while the webhook is down and
// delivered once after a restart, not raised again by the restarted
// aggregator. A new key is configured and the aggregator restarted on the
// same data dir: one recovery alert, and a last restart sends nothing
// more. The webhook counts every delivery.
func TestKeyRevokedMidRun(t *testing.T) {
	srv := testenv.StartRealS3(t)
	b := srv.ProductionBucket(t, []string{"andheri", "bandra"})
	for branch, key := range b.Branch {
		st := srv.Store(t, b.Name, key)
		for d := range 5 {
			fixture.PutDoc(t, st, fixture.Doc(branch, fixture.Date("2026-02-12", d), int64(d)))
		}
		fixture.PutBackup(t, st, branch, time.Date(2026, 2, 16, 22, 0, 5, 0, fixture.IST), 70_000)
	}
	proxy := startRevokingProxy(t, srv)
	clk := newClock(now)
	hook, hookURL := newHookCounter(t)
	dataDir := t.TempDir()
	env := func(key testenv.S3Key) map[string]string {
		e := srv.Env(b.Name, key)
		e["BACKUP_S3_ENDPOINT"] = proxy.URL
		e[options.EnvExpected] = "andheri,bandra"
		e[options.EnvRefreshInterval] = "5m"
		e[options.EnvSyncAlertAfter] = "30m"
		e[options.EnvWebhookURL] = hookURL
		return e
	}
	ctx := context.Background()
	// boot starts the aggregator with key and waits for its loop's first
	// sync, which would otherwise land among the syncs the test makes.
	boot := func(key testenv.S3Key) (string, *app.App, *syncBuffer, func()) {
		t.Helper()
		url, a, logs, stop := startWith(t, dataDir, env(key), clk.now)
		waitUntil(t, "the refresh loop's first sync", func() bool { return a.Service.LastSync().Syncs >= 1 })
		return url, a, logs, stop
	}
	const unknownKey = "the access key is not known to the server"
	failSync := func(a *app.App, step string) {
		t.Helper()
		if err := a.Service.RefreshIncremental(ctx); err == nil {
			t.Fatalf("%s: a sync with the revoked key succeeded", step)
		}
		if p := a.Service.LastSync().Problem; !strings.Contains(p, unknownKey) || strings.Contains(p, "RequestID") {
			t.Errorf("%s: problem = %q, want the cause in words (%q)", step, p, unknownKey)
		}
	}
	syncDown := func(a *app.App) int { return len(syncAlerts(a.Notifier.History(), alert.KindDown)) }
	syncUp := func(a *app.App) int { return len(syncAlerts(a.Notifier.History(), alert.KindRecovered)) }

	// The webhook is down until the first restart: the alert must wait
	// in the data dir, not be lost.
	hook.refusing.Store(true)
	url, a, logs1, stop := boot(b.Aggregator)
	if err := a.Service.Refresh(ctx); err != nil {
		t.Fatalf("sync with the aggregator's key: %v", err)
	}
	bothUp(t, url, "before the revocation")
	if code := readyz(t, url); code != http.StatusOK {
		t.Fatalf("/readyz after a good sync = %d", code)
	}
	lastGood := a.Service.LastSync().LastSuccess

	// bandra pushes a catch-up document; the key is deleted as the sync,
	// having listed it, goes to download it.
	newDoc := fixture.PutDoc(t, srv.Store(t, b.Name, b.Branch["bandra"]), fixture.Doc("bandra", "2026-02-11", 9))
	proxy.arm(func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+newDoc)
	},
		func() error { return srv.DeleteUser(b.Aggregator) })
	clk.add(time.Minute)
	if err := a.Service.Refresh(ctx); err == nil {
		t.Fatal("the sync during which the key was deleted succeeded")
	}
	if proxy.err != nil || proxy.revoked.Load() != 1 {
		t.Fatalf("the key was not revoked mid-sync (revoked %d, %v)", proxy.revoked.Load(), proxy.err)
	}
	s := a.Service.LastSync()
	if want := "cannot read " + newDoc + ": " + unknownKey; s.Problem != want {
		t.Errorf("problem = %q, want %q", s.Problem, want)
	}
	if !strings.Contains(s.LastError, "(InvalidAccessKeyId)") {
		t.Errorf("the details lost the error code: %q", s.LastError)
	}
	// The failed sync's partial view (everything listed, one download
	// refused) takes no branch down and raises nothing.
	bothUp(t, url, "after the sync that lost its key")
	failSync(a, "the next sync")

	// 20 minutes without a good sync: stale for /readyz (3 × 5m), too
	// early for the alert.
	clk.add(20 * time.Minute)
	failSync(a, "after 20m")
	if code := readyz(t, url); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the last good sync 21m old = %d, want 503", code)
	}
	if n := syncDown(a); n != 0 {
		t.Errorf("%d sync-failure alerts before AGGREGATOR_SYNC_ALERT_AFTER", n)
	}
	// Past 30 minutes: one alert, however long it lasts.
	clk.add(11 * time.Minute)
	failSync(a, "after 31m")
	clk.add(10 * time.Minute)
	failSync(a, "after 41m")
	down := syncAlerts(a.Notifier.History(), alert.KindDown)
	if len(down) != 1 {
		t.Fatalf("sync-failure alerts = %d, want 1: %+v", len(down), a.Notifier.History())
	}
	if !strings.Contains(down[0].Text, "cannot read the bucket") || !strings.Contains(down[0].Text, unknownKey) {
		t.Errorf("alert text = %q, want the cause in words", down[0].Text)
	}
	bothUp(t, url, "after 41m of failed syncs")
	if ba := branchAlerts(a.Notifier.History()); len(ba) != 0 {
		t.Errorf("branch alerts while the key was revoked: %+v", ba)
	}
	if a.Notifier.Pending() == 0 {
		t.Fatal("nothing pending while the webhook refuses: the test does not hold an alert over the restart")
	}
	stop()

	// Restart, the key still revoked, the webhook back: the held alert is
	// delivered once and not raised again, though the restarted
	// aggregator's own failures last past 30 minutes (and past an hour
	// since the last good sync, when branches are judged from the last
	// good index all the same).
	hook.refusing.Store(false)
	url, a, logs2, stop := boot(b.Aggregator)
	if got := a.Service.LastSync().LastSuccess; !got.Equal(lastGood) {
		t.Errorf("after the restart the last good sync is %s, want %s (the failed syncs are not good ones)", got, lastGood)
	}
	if code := readyz(t, url); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after a restart on a revoked key = %d, want 503", code)
	}
	failSync(a, "after the restart")
	clk.add(31 * time.Minute)
	failSync(a, "31m after the restart")
	clk.add(5 * time.Minute)
	failSync(a, "36m after the restart")
	waitUntil(t, "the held alert to be delivered", func() bool { return a.Notifier.Pending() == 0 && hook.containing("cannot read the bucket") > 0 })
	if n := syncDown(a); n != 1 {
		t.Errorf("sync-failure alerts after the restart = %d, want still 1", n)
	}
	bothUp(t, url, "after the restart on a revoked key")
	if ba := branchAlerts(a.Notifier.History()); len(ba) != 0 {
		t.Errorf("branch alerts while the key was revoked: %+v", ba)
	}
	stop()

	// The owner makes a new read-only key and restarts the aggregator
	// with it on the same data dir: one recovery alert.
	newKey := srv.CreateUser(t, "aggregator2")
	grants := []testenv.Grant{{Key: newKey, ReadOnly: true}}
	for branch, key := range b.Branch {
		grants = append(grants, testenv.Grant{Key: key, Prefix: branch + "/"})
	}
	srv.SetPolicy(t, b.Name, grants...)
	clk.add(time.Minute)
	url, a, logs3, stop := boot(newKey)
	if err := a.Service.Refresh(ctx); err != nil {
		t.Fatalf("sync with the new key: %v", err)
	}
	if code := readyz(t, url); code != http.StatusOK {
		t.Errorf("/readyz after a good sync = %d, want 200", code)
	}
	if down, up := syncDown(a), syncUp(a); down != 1 || up != 1 {
		t.Errorf("sync alerts after the new key: %d down, %d recovered; want 1 and 1", down, up)
	}
	if d, ok := a.Service.Branch("bandra"); !ok || d.Documents != 6 {
		t.Errorf("bandra has %d documents with the new key, want 6 (the one whose download was refused read now)", d.Documents)
	}
	bothUp(t, url, "with the new key")
	waitUntil(t, "the recovery to be delivered", func() bool { return a.Notifier.Pending() == 0 && hook.containing("reads the bucket again") > 0 })
	stop()

	// A last restart: nothing is sent again.
	_, a, logs4, _ := boot(newKey)
	if err := a.Service.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "nothing pending", func() bool { return a.Notifier.Pending() == 0 })
	if down, up := syncDown(a), syncUp(a); down != 1 || up != 1 {
		t.Errorf("sync alerts after the last restart: %d down, %d recovered; want 1 and 1", down, up)
	}
	if ba := branchAlerts(a.Notifier.History()); len(ba) != 0 {
		t.Errorf("branch alerts: %+v", ba)
	}
	n, dup := hook.total()
	if down, up := hook.containing("cannot read the bucket"), hook.containing("reads the bucket again"); n != 2 || dup || down != 1 || up != 1 {
		t.Errorf("webhook took %d alerts (%d sync-failure, %d recovery, duplicates %t), want exactly one of each", n, down, up, dup)
	}
	for i, logs := range []*syncBuffer{logs1, logs2, logs3, logs4} {
		for _, secret := range []string{b.Aggregator.Secret, newKey.Secret} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("run %d: a secret key reached the logs", i+1)
			}
		}
	}
}
