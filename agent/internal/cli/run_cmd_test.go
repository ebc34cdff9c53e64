package cli

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/daemon"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// runningAgent is `agent run` started in-process on a fake clock.
type runningAgent struct {
	d      *daemon.Daemon
	runs   chan string // "job" or "job: error"
	cancel context.CancelFunc
	code   chan int
	stderr *bytes.Buffer
}

func startAgent(t testing.TB, env map[string]string, clock clockwork.Clock) *runningAgent {
	t.Helper()
	a := &runningAgent{runs: make(chan string, 20), code: make(chan int, 1), stderr: &bytes.Buffer{}}
	ready := make(chan *daemon.Daemon, 1)
	runHooks.clock = clock
	// The tests count the fake clock's waiters: the status document's
	// delayed write stays off it (TestRunStatusLimitOnTheDaemonClock
	// covers the daemon's own wiring).
	runHooks.statusLimiter = clockwork.NewRealClock()
	runHooks.onRunDone = func(job string, err error) {
		if job == JobBackupCatchup {
			return // its own test: TestRunUploadsWhatACrashLeft
		}
		if err != nil {
			job += ": " + err.Error()
		}
		a.runs <- job
	}
	runHooks.ready = func(d *daemon.Daemon) { ready <- d }
	t.Cleanup(func() {
		runHooks.clock, runHooks.onRunDone, runHooks.ready, runHooks.onChecks, runHooks.statusLimiter = nil, nil, nil, nil, nil
	})
	var ctx context.Context
	ctx, a.cancel = context.WithCancel(context.Background())
	go func() { a.code <- Main(ctx, []string{"run"}, io.Discard, a.stderr, config.MapLookup(env)) }()
	select {
	case a.d = <-ready:
	case c := <-a.code:
		t.Fatalf("agent run exited %d: %s", c, a.stderr)
	}
	return a
}

// next is the next finished run (a generous deadline is only a safety net).
func (a *runningAgent) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-a.runs:
		return r
	case <-time.After(60 * time.Second):
		t.Fatalf("no run finished; log so far:\n%s", a.stderr)
		return ""
	}
}

func (a *runningAgent) stop(t *testing.T) string {
	t.Helper()
	a.cancel()
	if c := <-a.code; c != 0 {
		t.Errorf("agent run exited %d after SIGTERM: %s", c, a.stderr)
	}
	return a.stderr.String()
}

// TestRunSurvivesADatabaseOutage: the daemon catches up at start; at
// 21:45 the database is down, the summary job retries with backoff and
// fails, visibly on /metrics, in the log and as a /fail ping; the next
// start (database back) fills the missed day.
func TestRunSurvivesADatabaseOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres() // our own cluster: this test stops it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dbURL := pg.URL(pg.CreateDatabase(t))
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	hc := newPingRecorder(t)
	env := map[string]string{
		"DATABASE_URL": dbURL, "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir(), "AGENT_LISTEN": "127.0.0.1:0",
		"SUMMARY_RETRY_ATTEMPTS": "2", "SUMMARY_RETRY_BACKOFF": "1m", "HEALTHCHECK_SUMMARY_URL": hc.URL + "/summary",
	}
	maps.Copy(env, srv.Env())
	if r := agent(t, ctx, env, "demo-data", "--days", "20", "--seed", "2", "--end", "2026-02-15"); r.code != 0 {
		t.Fatalf("demo-data: %s", r.stderr)
	}
	kolkata, _ := time.LoadLocation("Asia/Kolkata")

	// Start at 21:40 on 16 Feb: the catch-up pushes 2 to 15 Feb.
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 40, 0, 0, kolkata))
	a := startAgent(t, env, clock)
	if r := a.next(t); r != JobCatchup {
		t.Fatalf("first run: %s", r)
	}
	if keys := bucketKeys(t, st, "branch-andheri/metrics/"); len(keys) != 14 || keys[0] != "branch-andheri/metrics/2026-02-02.json" || keys[13] != "branch-andheri/metrics/2026-02-15.json" {
		t.Fatalf("after the start-up catch-up the bucket holds %v", keys)
	}
	if body := httpBody(t, "http://"+a.d.Addr()+"/healthz"); !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %q", body)
	}

	// 21:45 with the database down.
	if err := pg.StopServer(); err != nil {
		t.Fatal(err)
	}
	next, err := a.d.NextRun(JobSummary)
	if err != nil || !next.Equal(time.Date(2026, 2, 16, 21, 45, 0, 0, kolkata)) {
		t.Fatalf("summary next run %s (%v)", next, err)
	}
	clock.Advance(next.Sub(clock.Now()))
	// The first attempt failed when the backoff joins the four scheduled
	// jobs' timers (summary, backup, cleanup, verify) and the run's
	// JOB_TIMEOUT timer, and the checks it triggered (the database fails)
	// wait for their next round.
	if err := clock.BlockUntilContext(ctx, 7); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if r := a.next(t); !strings.HasPrefix(r, JobSummary+": after 2 attempts") {
		t.Fatalf("summary run: %s", r)
	}
	m := httpBody(t, "http://"+a.d.Addr()+"/metrics")
	for _, want := range []string{`branchwatch_agent_job_failures_total{job="summary"} 1`, `branchwatch_agent_job_retries_total{job="summary"} 1`,
		`branchwatch_agent_job_last_success_timestamp_seconds{job="summary"} 0`} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	log := a.stop(t)
	if !strings.Contains(log, `"msg":"job failed"`) || !strings.Contains(log, `"job":"summary"`) {
		t.Errorf("the failure is not in the log:\n%s", log)
	}
	// The failed attempt has the checks rerun: DATABASE_URL now fails,
	// which the summary's check hears at once; then the run's own /fail.
	if got := hc.paths(); got != "/summary/start /summary/fail /summary/fail" {
		t.Errorf("pings %s", got)
	}

	// Next morning, the database is back: the start-up catch-up fills 16 Feb.
	if err := pg.StartServer(); err != nil {
		t.Fatal(err)
	}
	a = startAgent(t, env, clockwork.NewFakeClockAt(time.Date(2026, 2, 17, 9, 0, 0, 0, kolkata)))
	if r := a.next(t); r != JobCatchup {
		t.Fatalf("catch-up after the outage: %s", r)
	}
	a.stop(t)
	rc, _, err := st.Get(ctx, "branch-andheri/metrics/2026-02-16.json")
	if err != nil {
		t.Fatalf("the missed day was not pushed: %v", err)
	}
	defer rc.Close()
	d, err := metrics.Decode(rc)
	if err != nil || !d.IsFinal || d.GeneratedAt != "2026-02-17T09:00:00+05:30" {
		t.Errorf("missed day's document %+v (%v)", d, err)
	}
}

func httpBody(t *testing.T, url string) string {
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

// TestRunFollowsTheSimulatedClock: under BRANCHWATCH_FAKE_NOW the daemon's
// schedules are the simulated day's.
func TestRunFollowsTheSimulatedClock(t *testing.T) {
	_, dbURL := testenv.NewDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "BACKUP_DIR": t.TempDir(), "AGENT_LISTEN": "127.0.0.1:0",
		FakeNowVariable: "2026-02-16T21:00:00+05:30"}
	a := startAgent(t, env, nil)
	defer a.stop(t)
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	for job, want := range map[string]time.Time{
		JobSummary: time.Date(2026, 2, 16, 21, 45, 0, 0, kolkata),
		JobBackup:  time.Date(2026, 2, 16, 22, 0, 0, 0, kolkata),
		JobCleanup: time.Date(2026, 2, 22, 2, 0, 0, 0, kolkata),
	} {
		if next, err := a.d.NextRun(job); err != nil || !next.Equal(want) {
			t.Errorf("%s next run %s (%v), want %s", job, next, err, want)
		}
	}
}

// TestRunSchedulesDrills: the restore drill runs on VERIFY_SCHEDULE
// (Sunday 03:00 by default), pings /start and /fail when it fails, and
// records the failure in the bucket; VERIFY_SCHEDULE=off or local-only
// mode schedules none.
func TestRunSchedulesDrills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, dbURL := testenv.NewDatabase(t)
	srv := testenv.StartS3(t)
	hc := newPingRecorder(t)
	base := map[string]string{"DATABASE_URL": dbURL, "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir(), "AGENT_LISTEN": "off"}
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	start := time.Date(2026, 2, 22, 2, 30, 0, 0, kolkata) // a Sunday, after the 02:00 cleanup

	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"off", map[string]string{"VERIFY_SCHEDULE": "off"}},
		{"local-only", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tc.env)
			if tc.name == "off" {
				maps.Copy(env, srv.Env())
			}
			a := startAgent(t, env, clockwork.NewFakeClockAt(start))
			defer a.stop(t)
			if next, err := a.d.NextRun(JobVerify); err == nil {
				t.Errorf("a drill is scheduled at %s", next)
			}
		})
	}

	env := maps.Clone(base)
	maps.Copy(env, srv.Env())
	env["HEALTHCHECK_VERIFY_URL"] = hc.URL + "/verify"
	clock := clockwork.NewFakeClockAt(start)
	a := startAgent(t, env, clock)
	defer a.stop(t)
	next, err := a.d.NextRun(JobVerify)
	if err != nil || !next.Equal(time.Date(2026, 2, 22, 3, 0, 0, 0, kolkata)) {
		t.Fatalf("verify next run %s (%v), want Sunday 03:00", next, err)
	}
	clock.Advance(next.Sub(clock.Now()))
	for {
		r := a.next(t)
		if !strings.HasPrefix(r, JobVerify) {
			continue // the start-up catch-up
		}
		if !strings.Contains(r, "no backup found") {
			t.Fatalf("verify run: %s, want a failure for want of a backup", r)
		}
		break
	}
	if got := hc.paths(); got != "/verify/start /verify/fail" {
		t.Errorf("pings %q", got)
	}
	rc, _, err := srv.Store(t).Get(ctx, "branch-andheri/drills/2026-02-22.json")
	if err != nil {
		t.Fatalf("no drill record: %v", err)
	}
	defer rc.Close()
	body, _ := io.ReadAll(rc)
	if !strings.Contains(string(body), `"ok": false`) || !strings.Contains(string(body), "no backup found") {
		t.Errorf("drill record:\n%s", body)
	}
}
