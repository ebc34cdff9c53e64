package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
	"github.com/branchwatch/branchwatch/agent/internal/options"
)

// DefaultRetryFor is how long a one-shot command (backup, push-metrics,
// cleanup) retries transient failures unless --retry-for says otherwise.
const DefaultRetryFor = 10 * time.Minute

// retryForFlag declares --retry-for on a one-shot command.
func retryForFlag(fs *flag.FlagSet) {
	fs.Duration("retry-for", DefaultRetryFor, "keep retrying transient failures (an S3 outage, timeouts; for push-metrics also a database that is down) for this long, "+
		"waiting 1m doubling to 15m between attempts; 0 disables. A backup retries its bucket check and upload, never its dump. "+
		"Permanent errors (missing bucket, refused key, wrong password) are never retried")
}

// oneShotJob is a one-shot command's context and retrier: the run ends at
// JOB_TIMEOUT, and transient failures are retried for --retry-for with the
// daemon's policy. finish turns a JOB_TIMEOUT overrun into a clear error.
func oneShotJob(env *Env, fs *flag.FlagSet) (ctx context.Context, rt *jobretry.Retrier, finish func(error) error, err error) {
	retryFor := DefaultRetryFor
	if f := fs.Lookup("retry-for"); f != nil {
		retryFor = f.Value.(flag.Getter).Get().(time.Duration)
	}
	if retryFor < 0 {
		return nil, nil, nil, fmt.Errorf("%w: --retry-for must not be negative (0 disables retries)", ErrUsage)
	}
	timeout := env.Opts.JobTimeout
	if timeout <= 0 {
		timeout = options.DefaultJobTimeout
	}
	ctx, cancel := context.WithTimeout(env.Ctx, timeout)
	rt = jobretry.New(jobretry.For(retryFor), nil, env.Logger)
	ctx = jobretry.WithRetrier(ctx, rt)
	finish = func(err error) error {
		defer cancel()
		if err != nil && env.Ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("did not finish within %s %s: %w", options.EnvJobTimeout, timeout, err)
		}
		return err
	}
	return ctx, rt, finish, nil
}
