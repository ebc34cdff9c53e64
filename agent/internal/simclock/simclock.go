// Package simclock is the agent's simulated clock, for tests and
// simulations only (BRANCHWATCH_FAKE_NOW and BRANCHWATCH_CLOCK_RATE): a
// clockwork.Clock whose Now starts at a chosen time and advances as the
// rate spec says (shared/simtime: a rate, and slower daily windows), and
// whose waits (After, Sleep, timers, AfterFunc) last the real time the
// clock takes to advance by their duration. gocron calls Now and
// AfterFunc on it; the daemon, the doctor's watch and the job retries
// call AfterFunc, After and Since.
package simclock

import (
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/shared/simtime"
)

// Clock is the simulated clock.
type Clock struct {
	real  clockwork.Clock
	began time.Time // the real time it started
	tl    *simtime.Timeline
}

var _ clockwork.Clock = (*Clock)(nil)

// New is a clock at start now, advancing rate simulated seconds per real
// second (rate 1: an offset clock; rate must be > 0).
func New(start time.Time, rate float64) *Clock {
	return NewSpec(start, simtime.Spec{Rate: rate})
}

// NewSpec is a clock at start now, advancing as spec says.
func NewSpec(start time.Time, spec simtime.Spec) *Clock {
	r := clockwork.NewRealClock()
	return &Clock{real: r, began: r.Now(), tl: simtime.New(start, spec)}
}

// Rate is the clock's slowest speed, in simulated seconds per real
// second (its rate when it has no windows).
func (c *Clock) Rate() float64 { return c.tl.Spec().Slowest() }

// Spec is the clock's rates.
func (c *Clock) Spec() simtime.Spec { return c.tl.Spec() }

// Real is the real duration the clock takes from now to advance by d (at
// least 1 ns for d > 0).
func (c *Clock) Real(d time.Duration) time.Duration {
	sp := c.tl.Spec()
	if d <= 0 || sp.Rate == 1 && len(sp.Windows) == 0 {
		return d
	}
	e := c.real.Since(c.began)
	return max(c.tl.Elapsed(c.tl.At(e).Add(d))-e, 1)
}

// Now is the simulated time.
func (c *Clock) Now() time.Time { return c.tl.At(c.real.Since(c.began)) }

// Since is measured on the simulated clock.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until is measured on the simulated clock.
func (c *Clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// After waits d of simulated time.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).Chan() }

// Sleep sleeps d of simulated time.
func (c *Clock) Sleep(d time.Duration) { c.real.Sleep(c.Real(d)) }

// NewTimer fires after d of simulated time. Its channel, like the
// tickers', carries the real time it fired at (nothing here reads it).
func (c *Clock) NewTimer(d time.Duration) clockwork.Timer {
	return &timer{Timer: c.real.NewTimer(c.Real(d)), c: c}
}

// AfterFunc calls f after d of simulated time.
func (c *Clock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	return &timer{Timer: c.real.AfterFunc(c.Real(d), f), c: c}
}

// NewTicker ticks every d of simulated time, at the rate of its start.
func (c *Clock) NewTicker(d time.Duration) clockwork.Ticker {
	return &ticker{Ticker: c.real.NewTicker(c.Real(d)), c: c}
}

// timer is a real timer whose Reset takes simulated durations.
type timer struct {
	clockwork.Timer
	c *Clock
}

func (t *timer) Reset(d time.Duration) bool { return t.Timer.Reset(t.c.Real(d)) }

// ticker is a real ticker whose Reset takes simulated durations.
type ticker struct {
	clockwork.Ticker
	c *Clock
}

func (t *ticker) Reset(d time.Duration) { t.Ticker.Reset(t.c.Real(d)) }
