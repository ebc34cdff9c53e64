package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/daemon"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
)

func TestStartupJobsRunFirstAndShareTheirLane(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 44, 0, 0, kolkata))
	runs := newDone()
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	catchupStarted, release := make(chan struct{}), make(chan struct{})
	d := start(t, daemon.Config{Location: kolkata, Clock: clock, OnRunDone: runs.hook, Jobs: []daemon.Job{
		{Name: "catchup", Lane: "metrics", Task: func(ctx context.Context) (daemon.Outcome, error) {
			note("catchup start")
			close(catchupStarted)
			<-release
			note("catchup end")
			return daemon.Outcome{}, nil
		}},
		{Name: "summary", Schedule: "45 21 * * *", Lane: "metrics", Task: func(ctx context.Context) (daemon.Outcome, error) {
			note("summary")
			return daemon.Outcome{}, nil
		}},
		{Name: "backup", Schedule: "45 21 * * *", Task: func(ctx context.Context) (daemon.Outcome, error) {
			note("backup")
			return daemon.Outcome{}, nil
		}},
	}})
	<-catchupStarted
	advanceTo(t, d, clock, "summary") // 21:45: summary waits for the catch-up, backup does not
	if e := runs.wait(t); e.job != "backup" {
		t.Fatalf("first finished %q, want backup (its lane is free)", e.job)
	}
	close(release)
	for range 2 {
		runs.wait(t)
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(order, ", ")
	if got != "catchup start, backup, catchup end, summary" {
		t.Errorf("order %s", got)
	}
}

func TestLockKeepsASecondDaemonOut(t *testing.T) {
	dir := t.TempDir()
	cfg := daemon.Config{Location: kolkata, LockDir: dir, Clock: clockwork.NewFakeClock(), Jobs: []daemon.Job{{Name: "summary", Schedule: "45 21 * * *", Task: ok}}}
	start(t, cfg)
	second, err := daemon.New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	err = second.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another agent uses "+dir) || !strings.Contains(err.Error(), "agent run") {
		t.Errorf("second daemon: %v", err)
	}
}

func TestStopCancelsRunningJobs(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 59, 0, 0, kolkata))
	hc := newPings(t)
	started := make(chan struct{})
	var sawCancel error
	dir := t.TempDir()
	d, err := daemon.New(daemon.Config{Location: kolkata, Clock: clock, Listen: "127.0.0.1:0", LockDir: dir, Jobs: []daemon.Job{{
		Name: "backup", Schedule: "0 22 * * *", PingURL: hc.srv.URL,
		Retry: jobretry.For(4 * time.Hour),
		Task: func(ctx context.Context) (daemon.Outcome, error) {
			close(started)
			<-ctx.Done() // a pg_dump being killed
			sawCancel = ctx.Err()
			return daemon.Outcome{}, ctx.Err()
		},
	}}}, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	<-d.Ready()
	addr := d.Addr()
	advanceTo(t, d, clock, "backup")
	<-started
	cancel() // SIGTERM
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(sawCancel, context.Canceled) {
		t.Errorf("the job saw %v, want its context cancelled", sawCancel)
	}
	if got := hc.list(); len(got) != 1 || got[0] != "POST /start" {
		t.Errorf("pings %v: a stop is not a failure", got)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the server still answers after Run returned")
	}
	// The lock is free again.
	again, err := daemon.New(daemon.Config{Location: kolkata, LockDir: dir, Clock: clock}, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { errc <- again.Run(ctx2) }()
	select {
	case <-again.Ready():
	case err := <-errc:
		t.Fatalf("restart: %v", err)
	}
	cancel2()
	<-errc
}

func TestHealthzAndDeclaredMetrics(t *testing.T) {
	d := start(t, daemon.Config{Location: kolkata, Clock: clockwork.NewFakeClock(), Listen: "127.0.0.1:0", Jobs: []daemon.Job{
		{Name: "summary", Schedule: "45 21 * * *", Task: ok},
		{Name: "backup", Schedule: "0 22 * * *", Task: ok},
	}})
	if body := get(t, "http://"+d.Addr()+"/healthz"); !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz = %q", body)
	}
	body := get(t, "http://"+d.Addr()+"/metrics")
	for _, job := range []string{"summary", "backup"} {
		for _, m := range []string{daemon.MetricLastSuccess, daemon.MetricLastDur, daemon.MetricLastSize, daemon.MetricFailures, daemon.MetricNextRun} {
			if !strings.Contains(body, m+`{job="`+job+`"}`) {
				t.Errorf("/metrics lacks %s for %s before any run", m, job)
			}
		}
	}
}

func TestNewRefusesBadJobs(t *testing.T) {
	cases := []struct {
		name string
		jobs []daemon.Job
		want string
	}{
		{"bad cron", []daemon.Job{{Name: "summary", Schedule: "61 25 * * *", Task: ok}}, `job summary: schedule "61 25 * * *"`},
		{"duplicate name", []daemon.Job{{Name: "a", Task: ok}, {Name: "a", Task: ok}}, "unique name"},
		{"no task", []daemon.Job{{Name: "a"}}, "a task"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := daemon.New(daemon.Config{Location: kolkata, Jobs: c.jobs}, discard())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestRetryLeavesTheLaneFree: a start-up job that fails (an S3 outage)
// and waits to try again does not hold its lane meanwhile: the 22:00 job
// of the same lane runs at 22:00, and the start-up job succeeds at its
// next attempt, after it.
func TestRetryLeavesTheLaneFree(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 59, 30, 0, kolkata))
	runs := newDone()
	failed := make(chan struct{})
	var mu sync.Mutex
	attempts := 0
	d := start(t, daemon.Config{Location: kolkata, Clock: clock, OnRunDone: runs.hook, Jobs: []daemon.Job{
		{Name: "backup-catchup", Lane: "backup", Retry: jobretry.For(4 * time.Hour), Task: func(ctx context.Context) (daemon.Outcome, error) {
			mu.Lock()
			defer mu.Unlock()
			if attempts++; attempts == 1 {
				close(failed)
				return daemon.Outcome{}, errors.New("the S3 server cut the connection")
			}
			return daemon.Outcome{}, nil
		}},
		{Name: "backup", Schedule: "0 22 * * *", Lane: "backup", Task: ok},
	}})
	<-failed
	advanceTo(t, d, clock, "backup") // 22:00, inside the catch-up's one-minute wait
	if e := runs.wait(t); e.job != "backup" || e.err != nil {
		t.Fatalf("first finished %q (%v), want the 22:00 backup while the catch-up waits to retry", e.job, e.err)
	}
	for {
		clock.Advance(10 * time.Second)
		select {
		case e := <-runs.ch:
			if e.job != "backup-catchup" || e.err != nil {
				t.Fatalf("then %q (%v), want the catch-up's second attempt", e.job, e.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if attempts != 2 {
				t.Errorf("%d attempts of the catch-up, want 2", attempts)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if clock.Since(time.Date(2026, 2, 16, 22, 0, 0, 0, kolkata)) > time.Hour {
			t.Fatal("the catch-up was not tried again within an hour")
		}
	}
}
