package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/daemon"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
)

var kolkata = mustLoad("Asia/Kolkata")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// done collects OnRunDone events.
type done struct{ ch chan event }

type event struct {
	job string
	err error
}

func newDone() *done { return &done{ch: make(chan event, 100)} }

func (d *done) hook(job string, err error) { d.ch <- event{job, err} }

// wait returns the next finished run, failing the test after a generous
// deadline (a safety net, not a synchronisation).
func (d *done) wait(t *testing.T) event {
	t.Helper()
	select {
	case e := <-d.ch:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no run finished")
		return event{}
	}
}

// start runs a daemon until the test ends.
func start(t *testing.T, cfg daemon.Config) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-errc:
		t.Fatalf("daemon did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	})
	return d
}

// advanceTo moves the fake clock to a job's next run.
func advanceTo(t *testing.T, d *daemon.Daemon, clock *clockwork.FakeClock, job string) time.Time {
	t.Helper()
	next, err := d.NextRun(job)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(next.Sub(clock.Now()))
	return next
}

func ok(ctx context.Context) (daemon.Outcome, error) { return daemon.Outcome{}, nil }

func TestSchedulesInTheBranchZone(t *testing.T) {
	cases := []struct {
		name     string
		zone     string
		now      string // wall clock in zone
		schedule string
		want     string // next run, wall clock in zone
	}{
		{"summary at 21:45 IST", "Asia/Kolkata", "2026-02-16 21:00:00", "45 21 * * *", "2026-02-16 21:45:00"},
		{"backup at 22:00 IST, after today's", "Asia/Kolkata", "2026-02-16 22:00:30", "0 22 * * *", "2026-02-17 22:00:00"},
		{"cleanup on Sunday 02:00", "Asia/Kolkata", "2026-02-16 12:00:00", "0 2 * * 0", "2026-02-22 02:00:00"},
		{"New York across the spring DST change", "America/New_York", "2026-03-07 23:00:00", "45 21 * * *", "2026-03-08 21:45:00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc := mustLoad(c.zone)
			now, _ := time.ParseInLocation(time.DateTime, c.now, loc)
			want, _ := time.ParseInLocation(time.DateTime, c.want, loc)
			clock := clockwork.NewFakeClockAt(now)
			runs := newDone()
			var calls atomic.Int64
			d := start(t, daemon.Config{Location: loc, Clock: clock, OnRunDone: runs.hook, Jobs: []daemon.Job{{
				Name: "job", Schedule: c.schedule,
				Task: func(ctx context.Context) (daemon.Outcome, error) { calls.Add(1); return daemon.Outcome{}, nil },
			}}})
			next, err := d.NextRun("job")
			if err != nil || !next.Equal(want) {
				t.Fatalf("next run %s (%v), want %s", next.In(loc), err, want)
			}
			if calls.Load() != 0 {
				t.Fatal("ran before its time")
			}
			advanceTo(t, d, clock, "job")
			if e := runs.wait(t); e.job != "job" || e.err != nil || calls.Load() != 1 {
				t.Errorf("run %+v, %d calls", e, calls.Load())
			}
		})
	}
}

func TestSingletonModeNeverOverlaps(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 10, 0, 30, 0, kolkata))
	runs := newDone()
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var inFlight, maxInFlight, calls atomic.Int64
	d := start(t, daemon.Config{Location: kolkata, Clock: clock, OnRunDone: runs.hook, Jobs: []daemon.Job{{
		Name: "backup", Schedule: "* * * * *",
		Task: func(ctx context.Context) (daemon.Outcome, error) {
			calls.Add(1)
			n := inFlight.Add(1)
			for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
			}
			started <- struct{}{}
			<-release
			inFlight.Add(-1)
			return daemon.Outcome{}, nil
		},
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	advanceTo(t, d, clock, "backup") // 10:01: starts and hangs
	<-started
	// 10:02 comes while the 10:01 run still runs: it must be dropped, not
	// run alongside or queued. The scheduler arming its next timer shows it
	// has dealt with the trigger.
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	advanceTo(t, d, clock, "backup")
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	close(release)
	runs.wait(t)
	// 10:03: runs again. (gocron's NextRun still says 10:02, the skipped
	// run, so the clock moves by the schedule's minute.)
	clock.Advance(time.Minute)
	<-started
	runs.wait(t)
	if calls.Load() != 2 || maxInFlight.Load() != 1 {
		t.Errorf("%d runs, at most %d at once; want 2 runs (10:02 skipped), never 2 at once", calls.Load(), maxInFlight.Load())
	}
}

// pings records healthchecks.io pings.
type pings struct {
	mu  sync.Mutex
	got []string // path, and body for /fail
	srv *httptest.Server
}

func newPings(t *testing.T) *pings {
	p := &pings{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		entry := r.Method + " " + r.URL.Path
		if len(b) > 0 {
			entry += " " + string(b)
		}
		p.got = append(p.got, entry)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pings) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

func TestRetriesMetricsAndPings(t *testing.T) {
	cases := []struct {
		name        string
		failures    int // attempts that fail before one succeeds
		wantErr     bool
		wantPings   []string
		wantMetrics []string
	}{
		{"fails, then succeeds on the second attempt", 1, false,
			[]string{"POST /check/start", "POST /check"},
			[]string{`branchwatch_agent_job_failures_total{job="summary"} 0`, `branchwatch_agent_job_retries_total{job="summary"} 1`,
				`branchwatch_agent_job_last_size_bytes{job="summary"} 987`, `branchwatch_agent_job_runs_total{job="summary"} 1`}},
		{"fails every attempt", 99, true,
			[]string{"POST /check/start", "POST /check/fail after 3 attempts: database unreachable"},
			[]string{`branchwatch_agent_job_failures_total{job="summary"} 1`, `branchwatch_agent_job_retries_total{job="summary"} 2`,
				`branchwatch_agent_job_last_success_timestamp_seconds{job="summary"} 0`, `branchwatch_agent_job_runs_total{job="summary"} 1`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 0, 0, 0, kolkata))
			runs := newDone()
			hc := newPings(t)
			var attempts atomic.Int64
			d := start(t, daemon.Config{Location: kolkata, Clock: clock, OnRunDone: runs.hook, Listen: "127.0.0.1:0", Jobs: []daemon.Job{{
				Name: "summary", Schedule: "45 21 * * *", PingURL: hc.srv.URL + "/check/",
				Retry: jobretry.Policy{First: time.Minute, Max: 90 * time.Second, For: 4 * time.Hour, MaxAttempts: 3},
				Task: func(ctx context.Context) (daemon.Outcome, error) {
					if attempts.Add(1) <= int64(c.failures) {
						return daemon.Outcome{}, errors.New("database unreachable")
					}
					return daemon.Outcome{Size: 987}, nil
				},
			}}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			advanceTo(t, d, clock, "summary")
			// Each failed attempt waits on the clock: the scheduler's timer
			// for tomorrow plus the backoff make two waiters.
			for _, backoff := range []time.Duration{time.Minute, 90 * time.Second}[:min(c.failures, 2)] {
				if err := clock.BlockUntilContext(ctx, 2); err != nil {
					t.Fatal(err)
				}
				clock.Advance(backoff)
			}
			e := runs.wait(t)
			if (e.err != nil) != c.wantErr {
				t.Fatalf("run error %v, want error %v", e.err, c.wantErr)
			}
			if got := hc.list(); strings.Join(got, "|") != strings.Join(c.wantPings, "|") {
				t.Errorf("pings %q, want %q", got, c.wantPings)
			}
			body := get(t, "http://"+d.Addr()+"/metrics")
			for _, m := range c.wantMetrics {
				if !strings.Contains(body, m+"\n") {
					t.Errorf("/metrics lacks %q", m)
				}
			}
			if !c.wantErr {
				want := `branchwatch_agent_job_last_success_timestamp_seconds{job="summary"} ` + formatFloat(clock.Now().Unix())
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}

// formatFloat writes a value as the Prometheus text format does.
func formatFloat(unix int64) string { return strconv.FormatFloat(float64(unix), 'g', -1, 64) }

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}
