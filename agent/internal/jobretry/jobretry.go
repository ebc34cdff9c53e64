// Package jobretry tries a job's step again after a transient failure:
// waits that start at about a minute and double up to a cap, until a
// deadline, on an injected clock. It is also the one place that decides
// what "transient" means for a job (Permanent).
//
// Request-level retries (seconds) belong to the S3 client; this package
// is the level above, for an outage of minutes or hours.
package jobretry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/shared/store"
)

// Defaults of the daemon's jobs.
const (
	DefaultFirst = time.Minute
	DefaultMax   = 15 * time.Minute
)

// Policy is how a job's step is retried: wait First after the first
// failure, doubling up to Max, and start no new attempt once For has
// passed since the job began. For 0 disables retries.
type Policy struct {
	First, Max, For time.Duration
	// MaxAttempts, when positive, also bounds the attempts in all.
	MaxAttempts int
}

// For is the default policy (a minute doubling to 15) for d in all.
func For(d time.Duration) Policy { return Policy{First: DefaultFirst, Max: DefaultMax, For: d} }

// Wait is the wait after failed attempt n (1-based).
func (p Policy) Wait(n int) time.Duration {
	d := p.First
	if d <= 0 {
		d = DefaultFirst
	}
	maxWait := p.Max
	if maxWait <= 0 {
		maxWait = DefaultMax
	}
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// Retrier runs steps of one job run under a Policy. Its deadline counts
// from Start, so that every step of a run shares one JOB_RETRY_FOR. A nil
// *Retrier runs each step once.
type Retrier struct {
	Policy Policy
	Clock  clockwork.Clock
	Log    *slog.Logger
	Start  time.Time
	// OnRetry, if set, is called before each wait (the daemon counts
	// retries on /metrics).
	OnRetry func(step string, attempt int, wait time.Duration, err error)
}

// New is a Retrier starting now on clock (the real clock when nil).
func New(p Policy, clock clockwork.Clock, log *slog.Logger) *Retrier {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Retrier{Policy: p, Clock: clock, Log: log, Start: clock.Now()}
}

// Do runs fn until it succeeds, fails permanently, the policy's time is
// up or ctx ends. Each failed attempt that is retried is logged with its
// number and the wait. The error returned is fn's last, saying after how
// many attempts when there were several.
func (r *Retrier) Do(ctx context.Context, step string, fn func(context.Context) error) error {
	if r == nil {
		return fn(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				r.Log.Info("step succeeded after retries", "step", step, "attempt", attempt)
			}
			return nil
		}
		wait := r.Policy.Wait(attempt)
		deadline := r.Start.Add(r.Policy.For)
		switch {
		case ctx.Err() != nil:
			return err
		case Permanent(err):
			r.Log.Error("step failed with an error that retrying cannot cure", "step", step, "attempt", attempt, "error", err)
			if attempt > 1 {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		case r.Policy.For <= 0,
			r.Policy.MaxAttempts > 0 && attempt >= r.Policy.MaxAttempts,
			r.Clock.Now().Add(wait).After(deadline):
			if attempt > 1 {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		if r.OnRetry != nil {
			r.OnRetry(step, attempt, wait, err)
		}
		r.Log.Warn("step failed, retrying", "step", step, "attempt", attempt, "retry_in", wait.String(),
			"retry_until", deadline.Format(time.RFC3339), "error", err)
		select {
		case <-r.Clock.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// NoRetry marks err as not worth retrying at this level (something else
// runs the job again, e.g. the doctor's watch once a setting is fixed).
func NoRetry(err error) error {
	if err == nil {
		return nil
	}
	return noRetry{err}
}

type noRetry struct{ error }

func (e noRetry) Unwrap() error   { return e.error }
func (e noRetry) Permanent() bool { return true }

type ctxKey struct{}

// WithRetrier returns ctx carrying r, for the steps of a job that retry
// themselves (the backup retries its upload, never its dump).
func WithRetrier(ctx context.Context, r *Retrier) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext is the Retrier of ctx, or nil (steps run once).
func FromContext(ctx context.Context) *Retrier {
	r, _ := ctx.Value(ctxKey{}).(*Retrier)
	return r
}

// PostgreSQL error codes that retrying cannot cure.
var permanentSQLStates = map[string]string{
	"28P01": "password authentication failed",
	"28000": "invalid authorization",
	"3D000": "database does not exist",
	"42501": "insufficient privilege",
}

// permanentTexts are the same failures as a client program (pg_dump)
// prints them.
var permanentTexts = regexp.MustCompile(`password authentication failed|no pg_hba\.conf entry|(database|role) "[^"]*" does not exist|permission denied for`)

// Permanent reports whether err is a failure that trying again cannot
// cure: a refused or missing bucket, an unknown or refused key, a wrong
// region (store.Permanent), an error marked with NoRetry, a wrong database password, a missing database,
// a cancelled context, an invalid key. Everything else (timeouts, 5xx,
// cut connections, a database that is down) counts as transient.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var p interface{ Permanent() bool } // store.S3Error, NoRetry
	if errors.Is(err, context.Canceled) || errors.Is(err, store.ErrBadKey) || errors.As(err, &p) && p.Permanent() {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		_, ok := permanentSQLStates[pe.Code]
		return ok
	}
	return permanentTexts.MatchString(err.Error())
}
