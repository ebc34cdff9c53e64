// Package simclock is the agent's simulated clock, for tests and
// simulations only (BRANCHWATCH_FAKE_NOW and BRANCHWATCH_CLOCK_RATE): a
// clockwork.Clock whose Now starts at a chosen time and advances rate
// times as fast as the real one, and whose waits (After, Sleep, timers,
// tickers, AfterFunc) last 1/rate of their duration in real time. gocron
// calls Now and AfterFunc on it; the daemon, the doctor's watch and the
// job retries call AfterFunc, After and Since.
package simclock

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// Clock is the simulated clock.
type Clock struct {
	real  clockwork.Clock
	start time.Time // the simulated time at began
	began time.Time // the real time it started
	rate  float64
}

var _ clockwork.Clock = (*Clock)(nil)

// New is a clock at start now, advancing rate simulated seconds per real
// second (rate 1: an offset clock; rate must be > 0).
func New(start time.Time, rate float64) *Clock {
	r := clockwork.NewRealClock()
	return &Clock{real: r, start: start, began: r.Now(), rate: rate}
}

// Rate is the clock's speed, in simulated seconds per real second.
func (c *Clock) Rate() float64 { return c.rate }

// Real is the real duration a simulated d lasts (at least 1 ns for d > 0).
func (c *Clock) Real(d time.Duration) time.Duration {
	if d <= 0 || c.rate == 1 {
		return d
	}
	return max(time.Duration(float64(d)/c.rate), 1)
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(c.real.Since(c.began)) * c.rate))
}

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

// NewTicker ticks every d of simulated time.
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
