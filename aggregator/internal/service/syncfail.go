package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
)

// Defaults of the sync's deadline and of the sync-failure alert.
const (
	DefaultSyncTimeout    = 10 * time.Minute
	DefaultSyncAlertAfter = 30 * time.Minute
)

// ReadyIntervals is how many refresh intervals the last good sync may be
// old before Ready says no.
const ReadyIntervals = 3

// overrunError is a sync cancelled at its deadline.
type overrunError struct {
	limit time.Duration
	err   error
}

func (e *overrunError) Error() string {
	return fmt.Sprintf("sync did not finish within %s and was cancelled: %v", e.limit, e.err)
}
func (e *overrunError) Unwrap() error { return e.err }

// syncWithin runs one sync under SyncTimeout. A sync that overruns is
// cancelled (every request of it) and returns an error, whatever it
// managed before: the index keeps the previous state of what it missed.
func (s *Service) syncWithin(ctx context.Context, prev *index.Index, full bool) (*index.Index, syncer.Stats, error) {
	sctx, cancel := context.WithTimeout(ctx, s.o.SyncTimeout)
	defer cancel()
	next, st, err := s.syncer.Sync(sctx, prev, full)
	if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		if err == nil {
			err = sctx.Err()
		}
		err = &overrunError{limit: s.o.SyncTimeout, err: err}
	}
	return next, st, err
}

// explain is a sync's error as the one line shown.
func explain(err error) string {
	if oe, ok := errors.AsType[*overrunError](err); ok {
		return fmt.Sprintf("the sync did not finish within %s and was cancelled; %s", oe.limit, syncer.Explain(oe.err))
	}
	return syncer.Explain(err)
}

// syncCheck judges the aggregator's own reading of the bucket like a
// branch's check: up while syncs succeed, late while they have failed
// for less than SyncAlertAfter, down after.
func (s *Service) syncCheck(st SyncStatus, now time.Time) freshness.Check {
	c := freshness.Check{Name: CheckSync, State: freshness.Up, LastSeen: st.LastSuccess, Reason: "the bucket is read without error"}
	if st.FailingSince.IsZero() {
		return c
	}
	c.State, c.Since = freshness.Late, st.FailingSince
	if now.Sub(st.FailingSince) >= s.o.SyncAlertAfter {
		c.State = freshness.Down
	}
	c.Reason = fmt.Sprintf("Syncs have failed since %s: %s", st.FailingSince.In(s.o.Location).Format("2006-01-02 15:04 MST"), st.Problem)
	return c
}

// CheckSync names the aggregator's own check (its alerts carry no branch).
const CheckSync = "sync"

// observeSync raises the sync-failure alert once syncs have failed for
// SyncAlertAfter, and the recovery alert at the first good sync after.
func (s *Service) observeSync() {
	now := s.o.Now()
	s.mu.Lock()
	c := s.syncCheck(s.status, now)
	if s.o.Notifier != nil {
		s.status.Alerting = s.o.Notifier.ObserveSync(c)
	} else {
		s.status.Alerting = c.State == freshness.Down
	}
	s.mu.Unlock()
}

// SyncProblem is the aggregator's own check, judged now: late or down
// while syncs fail.
func (s *Service) SyncProblem() freshness.Check {
	return s.syncCheck(s.LastSync(), s.o.Now())
}

// Ready reports whether the index served is fresh enough for a load
// balancer or monitor: the last good sync is at most ReadyIntervals
// refresh intervals old. The reason says why not, without details of
// the bucket (/readyz answers without authentication).
func (s *Service) Ready() (bool, string) {
	st := s.LastSync()
	limit := ReadyIntervals * s.o.RefreshInterval
	if st.LastSuccess.IsZero() {
		return false, "no good sync yet"
	}
	if age := s.o.Now().Sub(st.LastSuccess); age > limit {
		return false, fmt.Sprintf("the last good sync is %s old (limit %s)", age.Round(time.Second), limit)
	}
	return true, "ok"
}
