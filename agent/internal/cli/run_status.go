package cli

import (
	"context"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/daemon"
	"github.com/branchwatch/branchwatch/agent/internal/doctor"
	"github.com/branchwatch/branchwatch/agent/internal/statusreport"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
)

// newReporter keeps {branch}/agent/status.json up to date after every job
// and round of checks; nil in local-only mode (no bucket to write to).
func newReporter(env *Env, k *metricsKit, clock clockwork.Clock, nextRun func(string) (time.Time, error)) *statusreport.Reporter {
	if k.st == nil {
		return nil
	}
	o := env.Opts
	return statusreport.New(env.Ctx, statusreport.Config{
		BranchID: o.BranchID, AgentVersion: Version, Instance: k.instance, Store: k.st, Clock: clock, Limiter: runHooks.statusLimiter, Location: o.Location,
		NextRun:   nextRun,
		FreeBytes: func() (uint64, error) { return backup.FreeSpace(o.BackupDir) },
		Redact:    env.Redact.String,
		Logger:    env.Logger.With("component", "status"),
		OnWrite:   runHooks.onStatusWrite,
	})
}

// reported records each run of a job in the agent status document.
func reported(rep *statusreport.Reporter, clock clockwork.Clock, job string, task daemon.Task) daemon.Task {
	if rep == nil {
		return task
	}
	return func(ctx context.Context) (daemon.Outcome, error) {
		start := clock.Now()
		out, err := task(ctx)
		if ctx.Err() == nil {
			size := int64(0)
			if job == JobBackup {
				size = out.Size
			}
			rep.JobDone(job, start, size, err)
		}
		return out, err
	}
}

// statusChecks are the doctor's results as the status document holds them.
func statusChecks(res []doctor.Result) []agentstatus.CheckResult {
	out := make([]agentstatus.CheckResult, 0, len(res))
	for _, r := range res {
		out = append(out, agentstatus.CheckResult{Check: r.Check, Setting: r.Setting,
			Status: strings.ToLower(string(r.Status)), Detail: statusreport.OneLine(r.Detail)})
	}
	return out
}
