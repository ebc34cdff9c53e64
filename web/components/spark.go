package components

import (
	"strconv"
	"strings"

	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

// The sparkline's box, in SVG units.
const (
	sparkW   = 120
	sparkH   = 28
	sparkPad = 3
)

// sparkShape is a laid-out sparkline: solid runs of final days, dashed
// links to provisional days, and markers where a day is missing.
type sparkShape struct {
	Solid   []string // polyline points
	Dashed  []string // polyline points
	Dots    []sparkDot
	Gaps    []float64 // x of missing days
	Summary string    // the line in words, for screen readers
}

type sparkDot struct {
	X, Y        float64
	Provisional bool
	Title       string
}

func sparkLayout(pts []view.SparkPoint) sparkShape {
	var s sparkShape
	if len(pts) == 0 {
		return s
	}
	lo, hi, have := int64(0), int64(0), false
	for _, p := range pts {
		if p.Missing {
			continue
		}
		if !have || p.Value < lo {
			lo = p.Value
		}
		if !have || p.Value > hi {
			hi = p.Value
		}
		have = true
	}
	if lo > 0 {
		lo = 0
	}
	span := float64(hi - lo)
	if span == 0 {
		span = 1
	}
	step := float64(sparkW-2*sparkPad) / float64(max(len(pts)-1, 1))
	x := func(i int) float64 { return round1(sparkPad + float64(i)*step) }
	y := func(v int64) float64 {
		return round1(sparkH - sparkPad - float64(v-lo)/span*float64(sparkH-2*sparkPad))
	}
	var run []string
	flush := func() {
		if len(run) > 1 {
			s.Solid = append(s.Solid, strings.Join(run, " "))
		}
		run = nil
	}
	prev := -1 // index of the previous drawn point
	finals, provisional, missing := 0, 0, 0
	for i, p := range pts {
		if p.Missing {
			flush()
			s.Gaps = append(s.Gaps, x(i))
			prev = -1
			missing++
			continue
		}
		pt := ff(x(i)) + "," + ff(y(p.Value))
		title := format.Day(p.Date) + ": " + format.Money(p.Value)
		if !p.Final {
			flush()
			if prev >= 0 {
				s.Dashed = append(s.Dashed, ff(x(prev))+","+ff(y(pts[prev].Value))+" "+pt)
			}
			s.Dots = append(s.Dots, sparkDot{X: x(i), Y: y(p.Value), Provisional: true, Title: title + " (provisional)"})
			prev = -1
			provisional++
			continue
		}
		run = append(run, pt)
		prev = i
		finals++
	}
	flush()
	s.Summary = "Net revenue over " + strconv.Itoa(len(pts)) + " days: " + strconv.Itoa(finals) + " final"
	if provisional > 0 {
		s.Summary += ", " + strconv.Itoa(provisional) + " provisional (dashed)"
	}
	if missing > 0 {
		s.Summary += ", " + strconv.Itoa(missing) + " missing (gaps)"
	}
	return s
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func ff(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// changeClass is the CSS class of a change (the arrow and words carry the
// meaning; colour only repeats it).
func changeClass(c view.Change) string { return "change " + c.Direction() }

// changeText is a change in words, or why there is none.
func changeText(c view.Change) string {
	if !c.OK {
		return "no figures " + c.Against
	}
	return format.Change(c.Ratio) + " on " + c.Against
}

// lossCause says what made a loss day a loss: its expenses, when the day
// made a loss and had any.
func lossCause(r view.BranchRow) string {
	if r.NetProfit >= 0 || r.Expenses <= 0 {
		return ""
	}
	return "expenses " + format.Money(r.Expenses)
}

func joinNames(names []string) string { return strings.Join(names, ", ") }

// ratioChange compares cur with prev ("the previous period").
func ratioChange(cur, prev int64) view.Change {
	c := view.Change{Against: "the previous period"}
	if prev != 0 {
		p := float64(prev)
		if p < 0 {
			p = -p
		}
		c.OK, c.Ratio = true, float64(cur-prev)/p
	}
	return c
}

// comparedFigures are the figures the branch page compares with the
// previous period.
var comparedFigures = []column{
	col("net_revenue", "Net revenue", true, func(d *metrics.Document) int64 { return d.NetRevenue }),
	col("total_expenses", "Expenses", true, func(d *metrics.Document) int64 { return d.TotalExpenses }),
	col("net_profit", "Net profit", true, func(d *metrics.Document) int64 { return d.NetProfit }),
}
