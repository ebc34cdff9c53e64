package cli

import (
	"bytes"
	"context"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestRunStatusLimitOnTheDaemonClock: `agent run` on a simulated clock
// (BRANCHWATCH_FAKE_NOW, BRANCHWATCH_CLOCK_RATE=60: a simulated minute
// lasts a real second) times the status document's one-write-a-minute
// limit on that clock, as it does its jobs: the start-up state held back
// by the limit is written a simulated minute after the first write, about
// a real second, long before a real minute.
func TestRunStatusLimitOnTheDaemonClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, dbURL := testenv.NewDatabase(t)
	srv := testenv.StartS3(t)
	base := map[string]string{"DATABASE_URL": dbURL, "BACKUP_DIR": t.TempDir()}
	if r := agent(t, ctx, base, "demo-data", "--days", "3", "--seed", "5", "--end", "2026-02-15"); r.code != 0 {
		t.Fatalf("demo-data: %s", r.stderr)
	}
	env := with(base, "BRANCH_ID", "branch-juhu", "AGENT_LISTEN", "off", "BRANCH_TIMEZONE", "Asia/Kolkata",
		FakeNowVariable, "2026-02-16T10:00:00+05:30", ClockRateVariable, "60")
	maps.Copy(env, srv.Env())
	writes := make(chan time.Time, 20)
	runHooks.onStatusWrite = func(err error) {
		if err != nil {
			t.Errorf("status write: %v", err)
		}
		select {
		case writes <- time.Now():
		default:
		}
	}
	t.Cleanup(func() { runHooks.onStatusWrite = nil })
	runCtx, stop := context.WithCancel(ctx)
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { code <- Main(runCtx, []string{"run"}, io.Discard, &stderr, config.MapLookup(env)) }()

	// The start-up jobs (catchup, then backup-catchup) end within
	// milliseconds of each other, after a first write (the catch-up's, or
	// the doctor's bucket check): the state with both is held back by the
	// limit and written a simulated minute after that first write.
	began := time.Now()
	deadline := time.After(30 * time.Second) // half the real minute of a limit on the real clock
	for {
		select {
		case <-writes:
		case <-deadline:
			t.Fatalf("no status with both start-up jobs within 30 real seconds: the limit is not timed by the daemon's simulated clock\n%s", stderr.String())
		case c := <-code:
			t.Fatalf("agent run exited %d: %s", c, stderr.String())
		}
		doc := readAgentStatus(t, srv.Store(t), "branch-juhu")
		if doc.Jobs[JobCatchup].LastSuccess == "" || doc.Jobs[JobBackupCatchup].LastSuccess == "" {
			continue
		}
		stop()
		<-code
		if start := time.Date(2026, 2, 16, 10, 1, 0, 0, time.FixedZone("IST", 19800)); doc.UpdatedTime().Before(start) {
			t.Errorf("the status with both start-up jobs was written at %s, within the first simulated minute: the limit did not hold it back", doc.UpdatedAt)
		}
		t.Logf("status with both start-up jobs written at %s (simulated), %s real after the start", doc.UpdatedAt, time.Since(began).Round(time.Millisecond))
		return
	}
}
