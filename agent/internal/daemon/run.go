package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
)

// maxPingBody caps the error text sent with a /fail ping.
const maxPingBody = 10_000

// run executes one run of j: waits for its lane, pings /start, runs it
// with retries and a deadline (attempts), records the metrics, pings success or
// /fail, logs. A run cut short by the daemon stopping is neither a success
// nor a failure.
func (d *Daemon) run(ctx context.Context, j *Job) error {
	logger := d.logger.With("job", j.Name)
	lane := &laneHold{ch: d.lanes[j.Lane]}
	if err := lane.take(ctx); err != nil {
		return err
	}
	defer lane.release()
	m := d.metrics
	m.running.WithLabelValues(j.Name).Set(1)
	defer m.running.WithLabelValues(j.Name).Set(0)
	start := d.clock.Now()
	logger.Info("job started")
	d.ping(ctx, j, "/start", "")

	out, err := d.attempts(ctx, j, lane, logger)
	dur := d.clock.Since(start)
	d.updateNextRuns()
	m.lastDur.WithLabelValues(j.Name).Set(dur.Seconds())

	switch {
	case err != nil && ctx.Err() != nil:
		logger.Warn("job cancelled: the agent is stopping", "duration", dur.String(), "err", err)
	case err != nil:
		m.runs.WithLabelValues(j.Name).Inc()
		m.failures.WithLabelValues(j.Name).Inc()
		m.lastFailure.WithLabelValues(j.Name).Set(float64(d.clock.Now().Unix()))
		logger.Error("job failed", "duration", dur.String(), "err", err)
		d.ping(ctx, j, "/fail", err.Error())
	default:
		m.runs.WithLabelValues(j.Name).Inc()
		m.lastSuccess.WithLabelValues(j.Name).Set(float64(d.clock.Now().Unix()))
		m.lastSize.WithLabelValues(j.Name).Set(float64(out.Size))
		logger.Info("job done", "duration", dur.String(), "size", out.Size)
		d.ping(ctx, j, "", "")
	}
	if d.cfg.OnRunDone != nil {
		d.cfg.OnRunDone(j.Name, err)
	}
	return err
}

// errJobTimeout cancels a run that overran Config.JobTimeout.
var errJobTimeout = errors.New("job timeout")

// laneHold is a run's hold on its lane (nil ch: a lane of its own).
type laneHold struct {
	ch      chan struct{}
	holding bool
}

func (l *laneHold) take(ctx context.Context) error {
	if l.ch == nil || l.holding {
		return nil
	}
	select {
	case l.ch <- struct{}{}:
		l.holding = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *laneHold) release() {
	if l.holding {
		<-l.ch
		l.holding = false
	}
}

// attempts runs the task under the job's deadline (Config.JobTimeout) and
// retry policy, on the daemon's clock: the daemon retries the whole task,
// or hands the retrier to a task that retries its own steps. A task the
// daemon retries leaves its lane free while it waits to try again, so
// that a start-up catch-up retrying through an S3 outage does not hold
// back the night's backup (which runs its own catch-up uploads); a task
// that retries inside holds its lane throughout.
func (d *Daemon) attempts(ctx context.Context, j *Job, lane *laneHold, logger *slog.Logger) (Outcome, error) {
	// The deadline is a timer on the daemon's clock that cancels the run,
	// not a context deadline: a fake clock's deadline would look long past
	// to the network code below.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d.cfg.JobTimeout > 0 {
		timer := d.clock.AfterFunc(d.cfg.JobTimeout, func() { cancel(errJobTimeout) })
		defer timer.Stop()
	}
	rt := jobretry.New(j.Retry, d.clock, logger)
	rt.OnRetry = func(string, int, time.Duration, error) { d.metrics.retries.WithLabelValues(j.Name).Inc() }
	runCtx = jobretry.WithRetrier(runCtx, rt)
	var out Outcome
	var err error
	if j.RetriesInside {
		out, err = j.Task(runCtx)
	} else {
		err = rt.Do(runCtx, j.Name, func(ctx context.Context) (err error) {
			if err := lane.take(ctx); err != nil {
				return err
			}
			out, err = j.Task(ctx)
			lane.release()
			return err
		})
	}
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(runCtx), errJobTimeout) {
		err = fmt.Errorf("did not finish within JOB_TIMEOUT %s: %w", d.cfg.JobTimeout, err)
	}
	return out, err
}

// ping tells a healthchecks.io-style check about a run: suffix "/start",
// "" (success) or "/fail" with the error as the body. A ping that fails is
// logged and otherwise ignored: monitoring must not break the job.
func (d *Daemon) ping(ctx context.Context, j *Job, suffix, body string) {
	if j.PingURL == "" {
		return
	}
	target := strings.TrimRight(j.PingURL, "/") + suffix
	if len(body) > maxPingBody {
		body = body[:maxPingBody]
	}
	// A stopping daemon still reports what it finished.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.HTTPClient.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		d.logger.Warn("healthcheck ping not sent", "job", j.Name, "err", err)
		return
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		d.logger.Warn("healthcheck ping failed", "job", j.Name, "ping", suffix, "err", redactURLError(err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		d.logger.Warn("healthcheck ping refused", "job", j.Name, "ping", suffix, "status", resp.StatusCode)
	}
}

// redactURLError drops the URL from a client error: a check URL is a
// secret of sorts (anyone holding it can ping the check).
func redactURLError(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
