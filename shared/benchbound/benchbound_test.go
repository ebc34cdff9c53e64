package benchbound

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Fatalf and Logf were given.
type recorder struct {
	testing.TB
	fatal, log string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(f string, a ...any) {
	r.fatal = fmt.Sprintf(f, a...)
}
func (r *recorder) Logf(f string, a ...any) { r.log = fmt.Sprintf(f, a...) }

func TestBounds(t *testing.T) {
	ms := func(name string, v float64) Figure { return Figure{Name: name, Value: v, Unit: "ms"} }
	cases := []struct {
		name  string
		check func(tb testing.TB)
		miss  string // "" when the bound is met
	}{
		{"at most met", func(tb testing.TB) { AtMost(tb, ms("p99", 20), 25) }, ""},
		{"at most equal", func(tb testing.TB) { AtMost(tb, ms("p99", 25), 25) }, ""},
		{"at most missed", func(tb testing.TB) { AtMost(tb, ms("p99", 47.25), 40) }, "BOUND MISSED: p99 47.25 ms over the bound 40 ms"},
		{"at least missed", func(tb testing.TB) { AtLeast(tb, Figure{"rate", 0.5, "%"}, 0.7) }, "BOUND MISSED: rate 0.5 % under the bound 0.7 %"},
		{"ratio met", func(tb testing.TB) { RatioAtMost(tb, ms("overview p99", 20), ms("static p99", 10), 2.4) }, ""},
		{"ratio missed", func(tb testing.TB) { RatioAtMost(tb, ms("overview p99", 30), ms("static p99", 10), 2.4) },
			"BOUND MISSED: overview p99 30 ms is 3× the baseline static p99 10 ms, over the bound 2.4× (24 ms)"},
		{"ratio at least missed", func(tb testing.TB) {
			RatioAtLeast(tb, Figure{"sync", 600, "docs/s"}, Figure{"plain GETs", 1000, "docs/s"}, 0.7)
		}, "BOUND MISSED: sync 600 docs/s is 0.6× the baseline plain GETs 1000 docs/s, under the bound 0.7× (700 docs/s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			tc.check(r)
			if r.fatal != tc.miss {
				t.Fatalf("miss line %q, want %q", r.fatal, tc.miss)
			}
			if tc.miss == "" && !strings.HasPrefix(r.log, "bound met: ") {
				t.Fatalf("met bound logged %q", r.log)
			}
		})
	}
}

func TestBestOfRuns(t *testing.T) {
	t.Setenv(RunsEnv, "")
	var seen []int
	low := Lowest(func(i int) float64 { seen = append(seen, i); return []float64{5, 3, 4}[i] })
	if low != 3 || len(seen) != 3 {
		t.Fatalf("Lowest = %v after runs %v, want 3 after 3 runs", low, seen)
	}
	if high := Highest(func(i int) float64 { return []float64{5, 3, 7}[i] }); high != 7 {
		t.Fatalf("Highest = %v, want 7", high)
	}
	t.Setenv(RunsEnv, "1")
	if n := Runs(); n != 1 {
		t.Fatalf("Runs with %s=1: %d", RunsEnv, n)
	}
	t.Setenv(RunsEnv, "zero")
	if n := Runs(); n != 3 {
		t.Fatalf("Runs with a bad %s: %d, want the default 3", RunsEnv, n)
	}
}

func TestRSS(t *testing.T) {
	rss, peak := RSS(), PeakRSS()
	if rss <= 0 || peak < rss {
		t.Fatalf("RSS %d, peak %d: want 0 < RSS ≤ peak", rss, peak)
	}
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = 1
	}
	if p := PeakRSS(); p < peak+32<<20 {
		t.Errorf("peak %d after touching 64 MiB, was %d", p, peak)
	}
	_ = big[len(big)-1]
}
