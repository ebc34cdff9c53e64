package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/cloudclean"
	"github.com/branchwatch/branchwatch/agent/internal/daemon"
	"github.com/branchwatch/branchwatch/agent/internal/doctor"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/agent/internal/restoredrill"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Job names, as they appear on /metrics and in the log.
const (
	JobCatchup = "catchup"
	// JobBackupCatchup uploads, at start-up, the local dumps missing from
	// the bucket (a backup cut short by a crash).
	JobBackupCatchup = "backup-catchup"
	JobSummary       = "summary"
	JobBackup        = "backup"
	JobCleanup       = "cleanup"
	JobVerify        = "verify"
)

// metricsLane keeps the summary job and the start-up catch-up apart;
// backupLane the backup and the start-up upload of missing dumps.
const (
	metricsLane = "metrics"
	backupLane  = "backup"
)

func init() {
	Register(&Command{
		Name:    "run",
		Usage:   "agent run",
		Summary: "the daemon: scheduled summary, backup and cloud cleanup, plus the start-up catch-ups",
		Help: `Runs the agent doctor checks at start, and again every 5 minutes while one
fails (and after a job fails). It does not exit on a broken setting: while a
check fails /healthz answers 503 naming each failing check's setting, the log
says the same at ERROR, and the healthchecks URL of each job it concerns gets
a /fail ping. Jobs that need a failing database, pg_dump, metrics query or
BACKUP_DIR are held back; a job held back or failed meanwhile runs by itself
once the checks pass again. At start it uploads the local dumps missing from
the bucket (a backup cut short by a crash). /healthz and /metrics listen on
AGENT_LISTEN.`,
		NeedsDB: true,
		Run:     runDaemon,
	})
}

// runHooks let the package's tests drive `agent run` with a fake clock and
// watch its runs. Zero in production.
var runHooks struct {
	clock     clockwork.Clock
	onRunDone func(job string, err error)
	ready     func(*daemon.Daemon)
	onChecks  func(failing []doctor.Result) // after each round of the doctor checks
	s3        func(*store.S3Options)        // shrinks the S3 client's backoff
	// statusLimiter times the status document's rate limit instead of the
	// daemon's clock (a real clock keeps its delayed write off a fake
	// clock whose waiters a test counts); onStatusWrite follows each write.
	statusLimiter clockwork.Clock
	onStatusWrite func(error)
}

func runDaemon(env *Env, _ *flag.FlagSet) error {
	if runHooks.s3 != nil {
		runHooks.s3(&env.Opts.S3)
	}
	o := env.Opts
	clock := runHooks.clock
	if clock == nil {
		clock = clockwork.NewRealClock()
		if env.Sim != nil {
			clock = env.Sim // BRANCHWATCH_FAKE_NOW, BRANCHWATCH_CLOCK_RATE
		}
	}
	k, err := openMetrics(env, clock.Now)
	if err != nil {
		return err
	}
	defer k.close()
	// A broken METRICS_QUERY_FILE is a setting to fix now, not at 21:45.
	// An unreachable database, or reference tables not there (yet), is no
	// reason to stop the backups: the metrics jobs fail and say so.
	cctx, cancel := context.WithTimeout(env.Ctx, 20*time.Second)
	err = k.sum.Check(cctx)
	cancel()
	if _, bad := errors.AsType[*summary.QueryError](err); bad && !k.sum.Query().IsDefault() {
		return fmt.Errorf("%s: %w", options.EnvMetricsQueryFile, err)
	} else if err != nil {
		env.Logger.Error("the metrics query cannot run now: summaries will fail until it can", "err", err)
	}
	runner, err := backup.New(o, k.st, env.Logger)
	if err != nil {
		return err
	}
	runner.Now = clock.Now               // dump names follow the daemon's clock (BRANCHWATCH_FAKE_NOW too)
	runner.KeepLocalOnBucketError = true // a night with a broken bucket still leaves a local dump
	runner.Instance = k.instance
	watch := &doctor.Watch{Effects: checkEffects(o), Clock: clock, Logger: env.Logger.With("component", "doctor"), OnRound: runHooks.onChecks}
	js := jobs(o, k, runner, env.Logger, clock)
	var d *daemon.Daemon
	rep := newReporter(env, k, clock, func(job string) (time.Time, error) { return d.NextRun(job) })
	defer rep.Close() // after the daemon stopped: its last state
	for i := range js {
		js[i].Task = reported(rep, clock, js[i].Name, gated(watch, env, js[i].Name, js[i].Task))
	}
	d, err = daemon.New(daemon.Config{
		Location:   o.Location,
		Jobs:       js,
		Listen:     o.Listen,
		LockDir:    o.BackupDir,
		Clock:      clock,
		OnRunDone:  runHooks.onRunDone,
		Collectors: []prometheus.Collector{backup.UnreadableCollector(o.BackupDir, o.BranchID, o.Location), k.pub.Collector()},
		Health:     watch,
		JobTimeout: o.JobTimeout,
	}, env.Logger)
	if err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(env.Ctx)
	defer startWatch(wctx, env, k, clock, d, watch, rep)() // after the daemon stopped, before the pool closes
	defer stopWatch()
	if ready := runHooks.ready; ready != nil {
		go func() {
			select {
			case <-d.Ready():
				ready(d)
			case <-env.Ctx.Done():
			}
		}()
	}
	env.Logger.Info("agent running", "settings", o.String(), "summary", o.SummarySchedule, "backup", o.BackupSchedule,
		"cleanup", o.CleanupSchedule, "verify", verifyScheduleText(o, k.st != nil), "listen", o.Listen)
	return d.Run(env.Ctx)
}

// jobs are the daemon's work: the start-up catch-up, the daily summary
// and push (which catches up too, so that a missed day is filled without
// a restart), the nightly backup and the weekly cloud cleanup.
func jobs(o options.Options, k *metricsKit, runner *backup.Runner, logger *slog.Logger, clock clockwork.Clock) []daemon.Job {
	// The catch-up ends with the monthly bundles of closed months: at
	// start-up, and after each day's push (so on the 3rd the month just
	// closed gets its bundle, retried with the summary job's policy).
	bundles := k.bundler(o, logger, clock.Now)
	catchUp := func(ctx context.Context) error {
		_, _, err := catchup.Run(ctx, k.sum, k.pub, o.SummaryCatchupDays, o.MetricsCatchupDays, logger)
		if bundles != nil && ctx.Err() == nil {
			_, berr := bundles.Run(ctx)
			err = errors.Join(err, berr)
		}
		return err
	}
	retry := jobretry.For(o.JobRetryFor)
	js := []daemon.Job{
		{Name: JobCatchup, Lane: metricsLane, Task: func(ctx context.Context) (daemon.Outcome, error) {
			return daemon.Outcome{}, catchUp(ctx)
		}},
		{Name: JobBackupCatchup, Lane: backupLane, Retry: retry, Task: func(ctx context.Context) (daemon.Outcome, error) {
			_, err := runner.UploadMissing(ctx)
			return daemon.Outcome{}, err
		}},
		{
			Name: JobSummary, Schedule: o.SummarySchedule, Lane: metricsLane, PingURL: o.PingSummaryURL,
			Retry: jobretry.Policy{First: o.SummaryRetryBackoff, Max: jobretry.DefaultMax, For: o.JobRetryFor, MaxAttempts: o.SummaryRetryAttempts},
			Task: func(ctx context.Context) (daemon.Outcome, error) {
				doc, _, err := k.pub.PushDate(ctx, k.sum, k.sum.Today(), false)
				if err != nil {
					return daemon.Outcome{}, err
				}
				body, _ := doc.Marshal()
				return daemon.Outcome{Size: int64(len(body))}, catchUp(ctx)
			},
		},
		{Name: JobBackup, Schedule: o.BackupSchedule, Lane: backupLane, PingURL: o.PingBackupURL, Retry: retry, RetriesInside: true,
			Task: func(ctx context.Context) (daemon.Outcome, error) {
				res, err := runner.Run(ctx) // retries its bucket check and upload, never its dump
				return daemon.Outcome{Size: res.Size}, err
			}},
		{Name: JobCleanup, Schedule: o.CleanupSchedule, PingURL: o.PingCleanupURL, Retry: retry, Task: func(ctx context.Context) (daemon.Outcome, error) {
			_, err := cloudclean.Run(ctx, o, k.st, logger, clock.Now())
			return daemon.Outcome{}, err
		}},
	}
	if o.VerifySchedule == "" || k.st == nil {
		return js // drills prove the bucket's copies: none without one
	}
	return append(js, daemon.Job{Name: JobVerify, Schedule: o.VerifySchedule, PingURL: o.PingVerifyURL, Task: func(ctx context.Context) (daemon.Outcome, error) {
		_, err := restoredrill.Run(ctx, o, k.st, restoredrill.Request{VerifyRequest: restore.VerifyRequest{
			Identities: o.VerifyIdentities, ScratchURL: o.VerifyDatabaseURL, Now: clock.Now,
		}}, logger, clock.Now())
		return daemon.Outcome{}, err
	}})
}

// verifyScheduleText says when drills run, or why they do not.
func verifyScheduleText(o options.Options, bucket bool) string {
	switch {
	case o.VerifySchedule == "":
		return "off (VERIFY_SCHEDULE=off)"
	case !bucket:
		return "off (local-only mode: drills restore the bucket's copies)"
	}
	return o.VerifySchedule
}
