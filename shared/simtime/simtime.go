// Package simtime is the timeline of a simulation's accelerated clock
// (BRANCHWATCH_CLOCK_RATE): simulated time runs Rate times as fast as real
// time, except inside daily windows (times of day in the start's zone)
// that run at their own, slower, rate, so that the busy hours of a night
// (the backups, the faults) keep real work short in simulated time while
// the idle hours pass quickly. The agent's simulated clock and the
// simulation's harness share it, so that they agree on what time it is.
//
// A spec is "RATE" or "RATE,HH:MM-HH:MM=RATE,...", e.g.
// "7200,21:00-01:30=900,05:45-07:15=900": 7200 simulated seconds per real
// second, 900 from 21:00 to 01:30 and from 05:45 to 07:15.
package simtime

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate bounds, in simulated seconds per real second.
const (
	MinRate = 1
	MaxRate = 100000
)

// Window is a daily stretch [From, From+Length) (From since midnight)
// that runs at Rate.
type Window struct {
	From, Length time.Duration
	Rate         float64
}

// Spec is a parsed rate spec.
type Spec struct {
	Rate    float64 // outside the windows
	Windows []Window
}

// Parse reads a rate spec; the error names what is wrong in it.
func Parse(s string) (Spec, error) {
	parts := strings.Split(strings.TrimSpace(s), ",")
	var sp Spec
	var err error
	if sp.Rate, err = parseRate(parts[0]); err != nil {
		return Spec{}, err
	}
	for _, p := range parts[1:] {
		span, rate, ok := strings.Cut(strings.TrimSpace(p), "=")
		from, to, ok2 := strings.Cut(span, "-")
		if !ok || !ok2 {
			return Spec{}, fmt.Errorf("%q is not a window HH:MM-HH:MM=RATE", p)
		}
		var w Window
		f, err1 := parseTimeOfDay(from)
		t, err2 := parseTimeOfDay(to)
		if err1 != nil || err2 != nil || f == t {
			return Spec{}, fmt.Errorf("%q is not a window HH:MM-HH:MM=RATE (two different times of day)", p)
		}
		if w.Rate, err = parseRate(rate); err != nil {
			return Spec{}, err
		}
		w.From, w.Length = f, (t-f+24*time.Hour)%(24*time.Hour)
		for _, o := range sp.Windows {
			if overlap(o, w) {
				return Spec{}, fmt.Errorf("window %q overlaps another", p)
			}
		}
		sp.Windows = append(sp.Windows, w)
	}
	return sp, nil
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || r < MinRate || r > MaxRate {
		return 0, fmt.Errorf("%q is not a rate between %d and %d (simulated seconds per real second)", strings.TrimSpace(s), MinRate, MaxRate)
	}
	return r, nil
}

func parseTimeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// overlap says whether two daily windows share a moment.
func overlap(a, b Window) bool {
	for _, shift := range []time.Duration{-24 * time.Hour, 0, 24 * time.Hour} {
		bf := b.From + shift
		if a.From < bf+b.Length && bf < a.From+a.Length {
			return true
		}
	}
	return false
}

// Slowest is the lowest rate of the spec.
func (s Spec) Slowest() float64 {
	r := s.Rate
	for _, w := range s.Windows {
		r = min(r, w.Rate)
	}
	return r
}

// String is the spec as Parse reads it.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatFloat(s.Rate, 'f', -1, 64))
	for _, w := range s.Windows {
		from := time.Time{}.Add(w.From)
		fmt.Fprintf(&b, ",%s-%s=%s", from.Format("15:04"), from.Add(w.Length).Format("15:04"), strconv.FormatFloat(w.Rate, 'f', -1, 64))
	}
	return b.String()
}

// Timeline maps real time elapsed since a start to simulated time, for
// a simulated clock that started at Start (the windows are times of day
// in Start's zone). It is safe for concurrent use.
type Timeline struct {
	start time.Time
	spec  Spec

	mu sync.Mutex
	// cur is a segment boundary already walked to: the simulated time
	// there and the real time elapsed to reach it (a cursor, so that
	// queries moving forward do not walk from the start).
	curSim  time.Time
	curReal time.Duration
}

// New is the timeline of a clock started at start.
func New(start time.Time, spec Spec) *Timeline {
	return &Timeline{start: start, spec: spec, curSim: start}
}

// Start is the simulated time at real elapsed 0.
func (tl *Timeline) Start() time.Time { return tl.start }

// Spec is the timeline's rates.
func (tl *Timeline) Spec() Spec { return tl.spec }

// segment is the rate at t and the next moment the rate changes.
func (tl *Timeline) segment(t time.Time) (float64, time.Time) {
	loc := tl.start.Location()
	lt := t.In(loc)
	y, m, d := lt.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	next := midnight.Add(24 * time.Hour)
	for _, w := range tl.spec.Windows {
		for _, day := range []int{-1, 0, 1} {
			from := midnight.AddDate(0, 0, day).Add(w.From)
			to := from.Add(w.Length)
			if !t.Before(from) && t.Before(to) {
				return w.Rate, to
			}
			if from.After(t) && from.Before(next) {
				next = from
			}
		}
	}
	return tl.spec.Rate, next
}

// walk moves from (sim, real) segment by segment while stop allows the
// whole segment; it returns the segment where it stopped.
func (tl *Timeline) walk(sim time.Time, real time.Duration, stop func(nextSim time.Time, nextReal time.Duration) bool) (time.Time, time.Duration, float64) {
	for {
		rate, next := tl.segment(sim)
		nextReal := real + time.Duration(float64(next.Sub(sim))/rate)
		if stop(next, nextReal) {
			return sim, real, rate
		}
		sim, real = next, nextReal
	}
}

// from is a boundary to walk from: the cursor when it is not past the
// query, else the start.
func (tl *Timeline) from(before func(sim time.Time, real time.Duration) bool) (time.Time, time.Duration) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if before(tl.curSim, tl.curReal) {
		return tl.curSim, tl.curReal
	}
	return tl.start, 0
}

func (tl *Timeline) advance(sim time.Time, real time.Duration) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if real > tl.curReal {
		tl.curSim, tl.curReal = sim, real
	}
}

// At is the simulated time once real time e has elapsed since the start.
func (tl *Timeline) At(e time.Duration) time.Time {
	if e <= 0 {
		return tl.start.Add(time.Duration(float64(e) * tl.spec.Rate))
	}
	sim, real := tl.from(func(_ time.Time, r time.Duration) bool { return r <= e })
	sim, real, rate := tl.walk(sim, real, func(_ time.Time, nr time.Duration) bool { return nr > e })
	tl.advance(sim, real)
	return sim.Add(time.Duration(float64(e-real) * rate))
}

// Elapsed is the real time from the start until the simulated time t.
func (tl *Timeline) Elapsed(t time.Time) time.Duration {
	if !t.After(tl.start) {
		return time.Duration(float64(t.Sub(tl.start)) / tl.spec.Rate)
	}
	sim, real := tl.from(func(s time.Time, _ time.Duration) bool { return !s.After(t) })
	sim, real, rate := tl.walk(sim, real, func(ns time.Time, _ time.Duration) bool { return ns.After(t) })
	tl.advance(sim, real)
	return real + time.Duration(float64(t.Sub(sim))/rate)
}
