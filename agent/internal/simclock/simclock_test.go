package simclock

import (
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/simtime"
)

// TestRate checks that Now runs rate times as fast as the real clock and
// that every kind of wait lasts 1/rate of its simulated duration.
func TestRate(t *testing.T) {
	start := time.Date(2026, 3, 5, 21, 30, 0, 0, time.UTC)
	c := New(start, 600)
	waits := []struct {
		name string
		wait func()
	}{
		{"After", func() { <-c.After(time.Minute) }},
		{"Sleep", func() { c.Sleep(time.Minute) }},
		{"NewTimer", func() { <-c.NewTimer(time.Minute).Chan() }},
		{"Reset", func() { tm := c.NewTimer(time.Hour); tm.Reset(time.Minute); <-tm.Chan() }},
		{"AfterFunc", func() { done := make(chan struct{}); c.AfterFunc(time.Minute, func() { close(done) }); <-done }},
		{"NewTicker", func() { tk := c.NewTicker(time.Minute); defer tk.Stop(); <-tk.Chan(); <-tk.Chan() }},
	}
	for _, w := range waits {
		t.Run(w.name, func(t *testing.T) {
			realStart, simStart := time.Now(), c.Now()
			w.wait()
			// A minute is 100 ms of real time; a loaded machine may take
			// longer, never less.
			if got := time.Since(realStart); got < 95*time.Millisecond || got > 20*time.Second {
				t.Errorf("a simulated minute took %v of real time, want about 100ms", got)
			}
			if got := c.Since(simStart); got < 57*time.Second {
				t.Errorf("the simulated clock advanced %v over a simulated minute", got)
			}
		})
	}
	if c.Now().Before(start.Add(5 * time.Minute)) {
		t.Errorf("Now %v: less than the waits' 5 minutes past the start", c.Now())
	}
}

// TestRateOne is an offset clock: waits keep their real durations.
func TestRateOne(t *testing.T) {
	start := time.Date(2026, 3, 5, 21, 30, 0, 0, time.UTC)
	c := New(start, 1)
	if d := c.Now().Sub(start); d < 0 || d > time.Second {
		t.Errorf("Now is %v from the start", d)
	}
	if got := c.Real(time.Minute); got != time.Minute {
		t.Errorf("Real(1m) = %v at rate 1", got)
	}
}

// TestWindow: a wait that runs into a slower window lasts its share of
// each rate (shared/simtime's spec).
func TestWindow(t *testing.T) {
	spec, err := simtime.Parse("3600,21:00-22:00=60")
	if err != nil {
		t.Fatal(err)
	}
	c := NewSpec(time.Date(2026, 3, 5, 20, 59, 0, 0, time.UTC), spec)
	// A minute at 3600 (17 ms), then a minute at 60 (1 s).
	if got := c.Real(2 * time.Minute); got < 990*time.Millisecond || got > 1020*time.Millisecond {
		t.Errorf("Real(2m) from 20:59 = %v, want about 1.017s", got)
	}
	if c.Rate() != 60 {
		t.Errorf("Rate() = %v, want the slowest, 60", c.Rate())
	}
}
