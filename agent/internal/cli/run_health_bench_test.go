package cli

import (
	"maps"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/doctor"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// BenchmarkHealthyAfterFix is the figure "time from a fixed setting to
// /healthz 200 is at most 5 min": `agent run` with a password the
// database refuses, on a fake clock, real checks against real PostgreSQL
// and gofakes3. The password is fixed right after a failing round (the
// worst moment); the fake clock then advances in 10 s steps until a round
// passes. The bound is the recheck interval itself (simulated time, so a
// loaded machine does not move it): the benchmark fails when any
// iteration takes longer. ns/op is the real time of one start-fix-recover
// cycle.
func BenchmarkHealthyAfterFix(b *testing.B) {
	fx := newPasswordFixture(b, "bench_bw")
	srv := testenv.StartS3(b)
	env := map[string]string{"DATABASE_URL": fx.agentURL, "BRANCH_ID": "branch-bench", "BACKUP_DIR": b.TempDir(), "AGENT_LISTEN": "127.0.0.1:0"}
	maps.Copy(env, srv.Env())
	var worst time.Duration
	for b.Loop() {
		fx.setPassword(b, "old-pw")
		rounds := make(chan []doctor.Result, 50)
		runHooks.onChecks = func(f []doctor.Result) { rounds <- f }
		clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 10, 0, 0, 0, time.UTC))
		a := startAgent(b, env, clock)
		if f := <-rounds; len(f) == 0 {
			b.Fatal("the first round passed with a wrong password")
		}
		fx.setPassword(b, "new-pw")
		took := untilHealthy(b, clock, rounds, 4)
		if code, problems := health(b, a.d.Addr()); code != 200 {
			b.Fatalf("/healthz %d %q after a passing round", code, problems)
		}
		worst = max(worst, took)
		a.cancel()
		<-a.code
	}
	b.ReportMetric(worst.Seconds(), "sim-s-to-healthy-max")
	b.ReportMetric(worst.Seconds()/doctor.RecheckInterval.Seconds(), "ratio-to-bound")
	benchbound.AtMost(b, benchbound.Figure{Name: "simulated time from the fix to /healthz 200", Value: worst.Seconds(), Unit: "s"},
		doctor.RecheckInterval.Seconds())
}
