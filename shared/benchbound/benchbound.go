// Package benchbound turns a benchmark's figure into a bound that fails:
// the best of Runs measurements, compared with the figure either
// directly or as a ratio to a baseline measured in the same run, and a
// miss reported by one line that names the figure, the bound and the
// baseline.
//
// Every miss line starts with MissPrefix, so `make bench` can list the
// missed bounds after all modules ran.
package benchbound

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// MissPrefix starts the line of every missed bound.
const MissPrefix = "BOUND MISSED:"

// RunsEnv overrides Runs (a whole number ≥ 1), for a quick look.
const RunsEnv = "BENCH_RUNS"

// Runs is how many times a bounded figure is measured; the best counts,
// which absorbs noise from other work on the machine.
func Runs() int {
	if n, err := strconv.Atoi(os.Getenv(RunsEnv)); err == nil && n >= 1 {
		return n
	}
	return 3
}

// Lowest runs measure Runs times and returns the lowest result: the best
// for figures where less is better (times, latencies, memory).
func Lowest(measure func(run int) float64) float64 {
	best := math.Inf(1)
	for i := range Runs() {
		best = min(best, measure(i))
	}
	return best
}

// Highest runs measure Runs times and returns the highest result: the
// best for figures where more is better (rates).
func Highest(measure func(run int) float64) float64 {
	best := math.Inf(-1)
	for i := range Runs() {
		best = max(best, measure(i))
	}
	return best
}

// Figure is one measured value and its unit, as written in a miss line.
type Figure struct {
	Name  string // what was measured: "overview p99"
	Value float64
	Unit  string // "ms", "MiB", "docs/s"
}

func (f Figure) String() string { return fmt.Sprintf("%s %s %s", f.Name, num(f.Value), f.Unit) }

// num writes v with at most 3 decimals (a bound line is read by people).
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// AtMost fails tb when got is over limit (an absolute figure: memory, a
// request count, or a time on a simulated clock, where the machine's
// speed does not matter). It reports got beside limit either way.
func AtMost(tb testing.TB, got Figure, limit float64) {
	tb.Helper()
	if got.Value > limit {
		tb.Fatalf("%s %s over the bound %s %s", MissPrefix, got, num(limit), got.Unit)
	}
	tb.Logf("bound met: %s ≤ %s %s", got, num(limit), got.Unit)
}

// AtLeast fails tb when got is under limit.
func AtLeast(tb testing.TB, got Figure, limit float64) {
	tb.Helper()
	if got.Value < limit {
		tb.Fatalf("%s %s under the bound %s %s", MissPrefix, got, num(limit), got.Unit)
	}
	tb.Logf("bound met: %s ≥ %s %s", got, num(limit), got.Unit)
}

// RatioAtMost fails tb when got/baseline is over ratio: got and baseline
// are measured in the same run, in the same unit, so the bound holds
// whatever the machine's speed.
func RatioAtMost(tb testing.TB, got, baseline Figure, ratio float64) {
	tb.Helper()
	r := got.Value / baseline.Value
	if r > ratio {
		tb.Fatalf("%s %s is %s× the baseline %s, over the bound %s× (%s %s)",
			MissPrefix, got, num(r), baseline, num(ratio), num(ratio*baseline.Value), got.Unit)
	}
	tb.Logf("bound met: %s is %s× the baseline %s ≤ %s×", got, num(r), baseline, num(ratio))
}

// RatioAtLeast fails tb when got/baseline is under ratio.
func RatioAtLeast(tb testing.TB, got, baseline Figure, ratio float64) {
	tb.Helper()
	r := got.Value / baseline.Value
	if r < ratio {
		tb.Fatalf("%s %s is %s× the baseline %s, under the bound %s× (%s %s)",
			MissPrefix, got, num(r), baseline, num(ratio), num(ratio*baseline.Value), got.Unit)
	}
	tb.Logf("bound met: %s is %s× the baseline %s ≥ %s×", got, num(r), baseline, num(ratio))
}
