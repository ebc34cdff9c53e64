package cli

import (
	"context"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/daemon"
	"github.com/branchwatch/branchwatch/agent/internal/doctor"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/statusreport"
)

// checkEffects says which jobs each doctor check concerns. A broken
// database, pg_dump, metrics query or BACKUP_DIR blocks the jobs that
// need it; a broken bucket or clock does not block the backup (its local
// dump is still worth taking) but makes its failure a missed run.
func checkEffects(o options.Options) map[string][]doctor.Effect {
	metricsJobs := []doctor.Effect{{Job: JobCatchup, Blocks: true}, {Job: JobSummary, Blocks: true}}
	backupDir := []doctor.Effect{{Job: JobBackup, Blocks: true}}
	if !o.S3Enabled { // metrics documents go to BACKUP_DIR/metrics
		backupDir = append(backupDir, metricsJobs...)
	}
	remote := []doctor.Effect{{Job: JobCatchup}, {Job: JobSummary}, {Job: JobBackup}, {Job: JobCleanup}}
	return map[string][]doctor.Effect{
		doctor.CheckDatabase:     append([]doctor.Effect{{Job: JobBackup, Blocks: true}}, metricsJobs...),
		doctor.CheckPGDump:       {{Job: JobBackup, Blocks: true}},
		doctor.CheckMetricsQuery: metricsJobs,
		doctor.CheckBackupDir:    backupDir,
		doctor.CheckBucket:       remote,
		doctor.CheckClock:        remote,
	}
}

// startWatch runs the doctor checks beside the daemon: /healthz follows
// them, each job waits for the first round and is held back (and later
// rerun) while a check it needs fails. Call the returned wait after the
// daemon stopped.
func startWatch(ctx context.Context, env *Env, k *metricsKit, clock clockwork.Clock, d *daemon.Daemon, w *doctor.Watch, rep *statusreport.Reporter) (wait func()) {
	cfg := doctorConfig(env, k)
	cfg.Now = clock.Now
	if rep != nil {
		cfg.Status, cfg.OnVersions = rep.Probe, rep.SetVersions
	}
	w.Check = func(ctx context.Context) []doctor.Result {
		res := doctor.Run(ctx, cfg)
		rep.Checked(statusChecks(res))
		return res
	}
	w.Fail = d.PingFail
	w.Rerun = d.RunNow
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	return wg.Wait
}

// gated wraps a job's task: it waits for the checks, does not run while a
// check it needs fails, has the checks rerun when it fails, and redacts
// DATABASE_URL's password from its error (which reaches /fail pings).
func gated(w *doctor.Watch, env *Env, job string, task daemon.Task) daemon.Task {
	return func(ctx context.Context) (daemon.Outcome, error) {
		if err := w.Gate(ctx, job); err != nil {
			// The watch runs the job again once the check passes: a job
			// retry meanwhile would only hit the same gate.
			return daemon.Outcome{}, jobretry.NoRetry(err)
		}
		out, err := task(ctx)
		if err != nil && ctx.Err() == nil {
			w.JobFailed(ctx, job)
		}
		return out, env.Redact.Error(err)
	}
}
