package store

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddle "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Request-level retry defaults: a 60 s outage is always outlasted by one
// request's retries (the shortest possible sum of the 9 waits is 75 s), and
// the request then goes through at most one backoff step (30 s) after the
// server is back.
const (
	DefaultS3MaxAttempts  = 10
	DefaultS3BackoffBase  = time.Second
	DefaultS3MaxBackoff   = 30 * time.Second
	DefaultS3StallTimeout = 30 * time.Second
)

// Backoff is exponential backoff with "equal jitter": before retry i (1 is
// the first) it waits between half and all of min(Base·2^(i-1), Max), so
// that the waits never collapse to nothing and clients spread out.
type Backoff struct {
	Base, Max time.Duration
}

// Step is the un-jittered wait after failed attempt n (1-based).
func (b Backoff) Step(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// BackoffDelay implements retry.BackoffDelayer.
func (b Backoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := b.Step(attempt)
	if d <= 1 {
		return d, nil
	}
	return d/2 + rand.N(d/2+1), nil
}

// newRetryer is the SDK's standard retryer (5xx, throttling, timeouts, cut
// connections) with our backoff, no client-side retry quota (a flaky
// night must not turn into "retry quota exceeded" for the rest of the
// run), and a log line before each wait.
func newRetryer(attempts int, b Backoff, log *slog.Logger, describe func(error) string) aws.RetryerV2 {
	std := retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = attempts
		so.MaxBackoff = b.Max
		so.Backoff = b
		so.RateLimiter = ratelimit.None
	})
	return loggingRetryer{Standard: std, attempts: attempts, log: log, describe: describe}
}

// loggingRetryer says, before each wait, which request failed, which
// attempt it was and how long it waits.
type loggingRetryer struct {
	*retry.Standard
	attempts int
	log      *slog.Logger
	describe func(error) string
}

// RetryDelay logs the failed attempt and the wait before the next.
func (r loggingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.Standard.RetryDelay(attempt, err)
	if r.log != nil && derr == nil {
		args := []any{"attempt", attempt, "of", r.attempts, "retry_in", d.Round(time.Millisecond).String(), "error", r.describe(err)}
		var a *attemptError
		if errors.As(err, &a) {
			args = append([]any{"op", a.op, "path", a.path}, args...)
		}
		r.log.Warn("S3 request failed, retrying", args...)
		r.log.Debug("S3 request failed: detail", "attempt", attempt, "detail", err.Error())
	}
	return d, derr
}

// attemptError carries the operation and path of a failed attempt to the
// retryer's log line; it reads and unwraps as the error it holds.
type attemptError struct {
	op, path string
	err      error
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// nameAttempts runs inside the retry loop and names each failed attempt.
var nameAttempts = middleware.FinalizeMiddlewareFunc("NameAttempt",
	func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		if err != nil {
			path := ""
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				path = req.URL.Path
			}
			err = &attemptError{op: awsmiddle.GetOperationName(ctx), path: path, err: err}
		}
		return out, md, err
	})

// addNameAttempts puts nameAttempts inside the retry loop; stacks
// without one (presigning) are left alone.
func addNameAttempts(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get("Retry"); !ok {
		return nil
	}
	return stack.Finalize.Insert(nameAttempts, "Retry", middleware.After)
}

// stallConn fails a read or write that makes no progress for timeout: a
// server that accepts a connection and never answers (or stops reading an
// upload) costs one timeout per attempt, not forever. Each call pushes
// the deadline of both directions forward, so that a request written on
// a pooled connection also revives its pending read.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// stallDialer dials connections that time out when stalled.
func stallDialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: min(10*time.Second, timeout), KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, timeout: timeout}, nil
	}
}
