package cli

import (
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// dumpFiles lists the dumps (and temporary files) in dir.
func dumpFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".dump") || strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// backupAgentEnv is a branch database with demo data, a bucket behind mw
// and a healthchecks stand-in, for `agent run` tests of the backup job.
func backupAgentEnv(t *testing.T, ctx context.Context, mw func(http.Handler) http.Handler, extra map[string]string) (map[string]string, *testenv.S3Server, *pingRecorder) {
	t.Helper()
	_, dbURL := testenv.NewDatabase(t)
	srv := testenv.StartS3(t, testenv.WithMiddleware(mw))
	hc := newPingRecorder(t)
	env := map[string]string{
		"DATABASE_URL": dbURL, "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir(), "AGENT_LISTEN": "127.0.0.1:0",
		"HEALTHCHECK_BACKUP_URL": hc.URL + "/backup", "METRICS_CATCHUP_DAYS": "0",
	}
	maps.Copy(env, srv.Env())
	maps.Copy(env, extra)
	if r := agent(t, ctx, env, "demo-data", "--days", "3", "--seed", "2", "--end", "2026-02-15"); r.code != 0 {
		t.Fatalf("demo-data: %s", r.stderr)
	}
	return env, srv, hc
}

// TestRunBackupJobOutlastsAnOutage: from 22:00 to 22:01 (the fake clock)
// every S3 request answers 503. The 22:00 backup job's bucket check fails
// (the S3 client gives up quickly here: its backoff is shrunk), the job
// dumps all the same (once), its upload fails, waits one minute on the
// daemon's clock and goes through. One retry is counted on /metrics and no
// /fail ping is sent.
func TestRunBackupJobOutlastsAnOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 59, 0, 0, kolkata))
	from, to := time.Date(2026, 2, 16, 22, 0, 0, 0, kolkata), time.Date(2026, 2, 16, 22, 1, 0, 0, kolkata)
	var mu sync.Mutex
	faults := 0
	outage := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if now := clock.Now(); !now.Before(from) && now.Before(to) {
				mu.Lock()
				faults++
				mu.Unlock()
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	env, srv, hc := backupAgentEnv(t, ctx, outage, nil)
	runHooks.s3 = func(o *store.S3Options) {
		o.MaxAttempts, o.BackoffBase, o.MaxBackoff = 2, time.Millisecond, 2*time.Millisecond
	}
	t.Cleanup(func() { runHooks.s3 = nil })
	a := startAgent(t, env, clock)
	if r := a.next(t); r != JobCatchup {
		t.Fatalf("first run: %s", r)
	}
	clock.Advance(from.Sub(clock.Now()))
	// The step failed when the job's retry wait joins the four
	// schedules (summary, backup, cleanup, verify) and the run's
	// JOB_TIMEOUT timer.
	if err := clock.BlockUntilContext(ctx, 6); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if r := a.next(t); r != JobBackup {
		t.Fatalf("backup run: %s", r)
	}
	m := httpBody(t, "http://"+a.d.Addr()+"/metrics")
	for _, want := range []string{`branchwatch_agent_job_retries_total{job="backup"} 1`, `branchwatch_agent_job_failures_total{job="backup"} 0`,
		`branchwatch_agent_job_runs_total{job="backup"} 1`} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	log := a.stop(t)
	if got := hc.paths(); got != "/backup/start /backup" {
		t.Errorf("pings %q, want start and success only", got)
	}
	if !strings.Contains(log, `"job":"backup","step":"upload","attempt":1,"retry_in":"1m0s"`) {
		t.Errorf("no retry line with attempt and wait:\n%s", log)
	}
	if n := strings.Count(log, `"msg":"dump started"`); n != 1 {
		t.Errorf("%d dumps started, want 1", n)
	}
	mu.Lock()
	if faults < 2 {
		t.Errorf("%d requests failed: the outage did not happen", faults)
	}
	mu.Unlock()
	files := dumpFiles(t, env["BACKUP_DIR"])
	if len(files) != 1 {
		t.Fatalf("local dumps %v, want exactly one", files)
	}
	info, err := srv.Store(t).Stat(ctx, "branch-andheri/backups/"+files[0])
	if err != nil || info.Metadata["sha256"] == "" {
		t.Fatalf("the dump is not confirmed in the bucket: %+v %v", info, err)
	}
}

// TestRunJobTimeoutEndsAHungBackup: bills is locked ACCESS EXCLUSIVE, so
// pg_dump waits; at JOB_TIMEOUT (on the daemon's clock) the run is
// cancelled, pg_dump killed, and the run counts as failed with a /fail
// ping, leaving no partial dump.
func TestRunJobTimeoutEndsAHungBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 59, 0, 0, kolkata))
	pass := func(next http.Handler) http.Handler { return next }
	env, _, hc := backupAgentEnv(t, ctx, pass, map[string]string{"JOB_TIMEOUT": "2h"})
	a := startAgent(t, env, clock)
	if r := a.next(t); r != JobCatchup {
		t.Fatalf("first run: %s", r)
	}
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, "LOCK TABLE bills IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Date(2026, 2, 16, 22, 0, 0, 0, kolkata).Sub(clock.Now()))
	// Wait until pg_dump waits for the lock (asked on a second connection:
	// pg_stat_activity is a snapshot per transaction).
	watch, err := pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	for {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pg_dump never waited for the lock:\n%s", a.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	clock.Advance(2 * time.Hour)
	r := a.next(t)
	if !strings.HasPrefix(r, JobBackup+": did not finish within JOB_TIMEOUT 2h0m0s") {
		t.Fatalf("backup run: %s", r)
	}
	m := httpBody(t, "http://"+a.d.Addr()+"/metrics")
	if !strings.Contains(m, `branchwatch_agent_job_failures_total{job="backup"} 1`+"\n") {
		t.Error("/metrics does not count the overrun as a failure")
	}
	a.stop(t)
	if got := hc.paths(); got != "/backup/start /backup/fail" {
		t.Errorf("pings %q, want start and fail", got)
	}
	if files := dumpFiles(t, env["BACKUP_DIR"]); len(files) != 0 {
		t.Errorf("files left after the overrun: %v", files)
	}
}
