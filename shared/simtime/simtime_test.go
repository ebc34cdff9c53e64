package simtime

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		spec, want, err string
		slowest         float64
	}{
		{spec: "2400", want: "2400", slowest: 2400},
		{spec: " 7200, 21:00-01:30=900 ,05:45-07:15=600", want: "7200,21:00-01:30=900,05:45-07:15=600", slowest: 600},
		{spec: "1", want: "1", slowest: 1},
		{spec: "0", err: `"0" is not a rate between 1 and 100000`},
		{spec: "fast", err: `"fast" is not a rate`},
		{spec: "100001", err: "is not a rate"},
		{spec: "2400,21:00-01:30", err: `"21:00-01:30" is not a window HH:MM-HH:MM=RATE`},
		{spec: "2400,21:00=900", err: "is not a window"},
		{spec: "2400,25:00-01:00=900", err: "is not a window"},
		{spec: "2400,21:00-21:00=900", err: "two different times of day"},
		{spec: "2400,21:00-22:00=0.5", err: `"0.5" is not a rate`},
		{spec: "2400,21:00-01:00=900,00:30-02:00=900", err: `window "00:30-02:00=900" overlaps another`},
		{spec: "2400,23:00-01:00=900,21:00-23:00=600", want: "2400,23:00-01:00=900,21:00-23:00=600", slowest: 600},
	} {
		sp, err := Parse(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q): error %v, want one with %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || sp.String() != c.want || sp.Slowest() != c.slowest {
			t.Errorf("Parse(%q) = %s (slowest %v), %v; want %s (slowest %v)", c.spec, sp, sp.Slowest(), err, c.want, c.slowest)
		}
	}
}

// TestTimeline checks the real time each simulated moment takes to reach,
// across windows (one across midnight) and days.
func TestTimeline(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	sp, err := Parse("3600,21:00-01:00=600,06:00-07:00=60")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 5, 20, 0, 0, 0, ist)
	tl := New(start, sp)
	hour := time.Hour
	for _, c := range []struct {
		at   time.Time
		real time.Duration
	}{
		{start, 0},
		{start.Add(30 * time.Minute), 500 * time.Millisecond},                                                     // fast: an hour is a second
		{time.Date(2026, 3, 5, 21, 0, 0, 0, ist), time.Second},                                                    // the window starts
		{time.Date(2026, 3, 5, 22, 0, 0, 0, ist), time.Second + 6*time.Second},                                    // an hour at 600
		{time.Date(2026, 3, 6, 1, 0, 0, 0, ist), time.Second + 24*time.Second},                                    // four hours at 600
		{time.Date(2026, 3, 6, 6, 0, 0, 0, ist), 30 * time.Second},                                                // five hours at 3600
		{time.Date(2026, 3, 6, 6, 30, 0, 0, ist), 60 * time.Second},                                               // half an hour at 60
		{time.Date(2026, 3, 6, 7, 0, 0, 0, ist), 90 * time.Second},                                                // the window ends
		{time.Date(2026, 3, 6, 21, 0, 0, 0, ist), 90*time.Second + 14*time.Second},                                // fast again
		{time.Date(2026, 3, 7, 7, 0, 0, 0, ist), 104*time.Second + 24*time.Second + 5*hour/3600 + 60*time.Second}, // the next night and morning
	} {
		if got := tl.Elapsed(c.at); got != c.real {
			t.Errorf("Elapsed(%s) = %v, want %v", c.at.Format(time.DateTime), got, c.real)
		}
		if got := tl.At(c.real); !got.Equal(c.at) {
			t.Errorf("At(%v) = %s, want %s", c.real, got.Format(time.DateTime), c.at.Format(time.DateTime))
		}
	}
	// Queries out of order (the cursor) give the same answers.
	fresh := New(start, sp)
	for _, e := range []time.Duration{100 * time.Second, 3 * time.Second, 61 * time.Second, 0, 100 * time.Second} {
		if a, b := tl.At(e), fresh.At(e); !a.Equal(b) {
			t.Errorf("At(%v): %s after other queries, %s on a fresh timeline", e, a, b)
		}
	}
	// Before the start: the base rate.
	if got := tl.At(-time.Second); !got.Equal(start.Add(-hour)) {
		t.Errorf("At(-1s) = %s", got)
	}
}
