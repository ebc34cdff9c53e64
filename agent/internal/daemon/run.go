package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxPingBody caps the error text sent with a /fail ping.
const maxPingBody = 10_000

// run executes one run of j: waits for its lane, pings /start, tries up to
// Retry.Attempts times with backoff, records the metrics, pings success or
// /fail, logs. A run cut short by the daemon stopping is neither a success
// nor a failure.
func (d *Daemon) run(ctx context.Context, j *Job) error {
	logger := d.logger.With("job", j.Name)
	if lane := d.lanes[j.Lane]; lane != nil {
		select {
		case lane <- struct{}{}:
			defer func() { <-lane }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m := d.metrics
	m.running.WithLabelValues(j.Name).Set(1)
	defer m.running.WithLabelValues(j.Name).Set(0)
	start := d.clock.Now()
	logger.Info("job started")
	d.ping(ctx, j, "/start", "")

	out, err := d.attempts(ctx, j)
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

// attempts runs the task until it succeeds, Retry.Attempts are spent, or
// ctx ends, waiting on the daemon's clock between attempts.
func (d *Daemon) attempts(ctx context.Context, j *Job) (Outcome, error) {
	wait := j.Retry.Backoff
	for attempt := 1; ; attempt++ {
		out, err := j.Task(ctx)
		if err == nil || ctx.Err() != nil || attempt >= j.Retry.Attempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return out, err
		}
		d.metrics.retries.WithLabelValues(j.Name).Inc()
		d.logger.Warn("job attempt failed, retrying", "job", j.Name, "attempt", attempt, "of", j.Retry.Attempts,
			"retry_in", wait.String(), "err", err)
		select {
		case <-d.clock.After(wait):
		case <-ctx.Done():
			return out, err
		}
		wait *= 2
		if j.Retry.MaxBackoff > 0 && wait > j.Retry.MaxBackoff {
			wait = j.Retry.MaxBackoff
		}
	}
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
