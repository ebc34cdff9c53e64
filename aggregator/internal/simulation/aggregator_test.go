package simulation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	alertwebhook "github.com/branchwatch/branchwatch/aggregator/internal/alert/webhook"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
)

// simClock is the simulated time the aggregator lives in.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *simClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// webhook receives the aggregator's alerts. It refuses every other POST
// (503) so that each alert is delivered only after a retry, and counts
// each alert once, however often it was posted.
type webhook struct {
	mu        sync.Mutex
	posts     int
	delivered map[int64]alertwebhook.Payload
	order     []int64
	duplicate int
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p alertwebhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Text == "" {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.posts++
	if h.posts%2 == 1 {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if _, dup := h.delivered[p.ID]; dup {
		h.duplicate++
	} else {
		h.delivered[p.ID] = p
		h.order = append(h.order, p.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// Posts counts the POSTs received.
func (h *webhook) Posts() int { h.mu.Lock(); defer h.mu.Unlock(); return h.posts }

// alerts are the delivered alerts in delivery order, as "branch/check kind".
func (h *webhook) alerts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, id := range h.order {
		p := h.delivered[id]
		out = append(out, p.BranchID+"/"+p.Check+" "+string(p.Kind))
	}
	return out
}

// aggregator is the aggregator in-process, on the simulated clock.
type aggregator struct {
	App      *app.App
	URL      string
	Clock    *simClock
	Hook     *webhook
	attempts chan struct{}

	Syncs, SyncRetries int
}

const aggregatorToken = "simulated-month-dashboard-token"

// startAggregator starts the aggregator over the bucket of s3env with
// the expected branches, at the clock's current time.
func startAggregator(t *testing.T, s3env map[string]string, expected []string, clock *simClock) *aggregator {
	t.Helper()
	hook := &webhook{delivered: map[int64]alertwebhook.Payload{}}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)
	vars := map[string]string{
		options.EnvListen: "127.0.0.1:0", options.EnvDataDir: t.TempDir(), options.EnvToken: aggregatorToken,
		// Full syncs (which read the agent status documents) at most an
		// hour apart, as by default: each of the harness's syncs, an hour
		// or more apart, is a full one.
		options.EnvRefreshInterval: "1h", options.EnvFullSyncInterval: "1h", options.EnvTimezone: "Asia/Kolkata",
		options.EnvExpected: strings.Join(expected, ","), options.EnvWebhookURL: hs.URL + "/hooks/branchwatch",
		// The morning digest is a message of its own, not an alert: the
		// bars count alerts.
		options.EnvDigestTime: "off",
	}
	maps.Copy(vars, s3env)
	vars["BACKUP_S3_ACCESS_KEY"] = aggregatorAccessKey
	o, err := options.Load(config.NewReader(config.MapLookup(vars)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	ag := &aggregator{Clock: clock, Hook: hook, attempts: make(chan struct{}, 1)}
	a, err := app.Build(o, app.Config{
		Now:    clock.Now,
		Routes: []app.RouteBuilder{dashboard.Routes},
		AlertOptions: func(ao *alert.Options) {
			ao.MinBackoff, ao.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
			ao.OnAttempt = func(alert.Record, string) {
				select {
				case ag.attempts <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- a.Run(ctx, ready) }()
	select {
	case addr := <-ready:
		ag.URL = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("aggregator stopped at start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("aggregator stopped with %v", err)
		}
	})
	ag.App = a
	return ag
}

// syncAt moves the clock to at and refreshes, again while the bucket's
// faults make a refresh fail (a few times at most).
func (ag *aggregator) syncAt(t *testing.T, at time.Time) {
	t.Helper()
	ag.Clock.Set(at)
	var err error
	for range 5 {
		ag.Syncs++
		if err = ag.App.Service.RefreshIncremental(context.Background()); err == nil {
			return
		}
		ag.SyncRetries++
	}
	t.Errorf("%s: the aggregator could not sync: %v", at.Format(time.DateTime), err)
}

// states are every branch's "metrics/backup" states, as judged now.
func (ag *aggregator) states() map[string][2]freshness.State {
	out := map[string][2]freshness.State{}
	for _, b := range ag.App.Service.Branches() {
		out[b.ID] = [2]freshness.State{b.Metrics.State, b.Backup.State}
	}
	return out
}

// waitAlertsDelivered returns once no alert waits for delivery.
func (ag *aggregator) waitAlertsDelivered(t *testing.T) {
	t.Helper()
	deadline := time.After(time.Minute)
	for ag.App.Notifier.Pending() > 0 {
		select {
		case <-ag.attempts:
		case <-deadline:
			t.Fatalf("%d alerts still undelivered after a minute", ag.App.Notifier.Pending())
		}
	}
}

// apiBranch is one branch of /api/v1/branches.
type apiBranch struct {
	ID      string          `json:"id"`
	Metrics freshness.Check `json:"metrics_check"`
	Backup  freshness.Check `json:"backup_check"`
	Drill   freshness.Check `json:"drill_check"`
	Bad     int             `json:"bad_documents"`
}

// apiBranches reads every branch over HTTP, as a script would.
func (ag *aggregator) apiBranches(t *testing.T) []apiBranch {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ag.URL+"/api/v1/branches", nil)
	req.Header.Set("Authorization", "Bearer "+aggregatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Branches []apiBranch `json:"branches"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/api/v1/branches: %v", err)
	}
	return body.Branches
}

// apiStates are every branch's states over HTTP.
func (ag *aggregator) apiStates(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range ag.apiBranches(t) {
		out[b.ID] = fmt.Sprintf("%s/%s bad=%d", b.Metrics.State, b.Backup.State, b.Bad)
	}
	return out
}
