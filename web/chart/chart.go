// Package chart lays out small server-side SVG charts (a line or bars over
// business dates) and renders them with templ, so they read without
// JavaScript. Layout is plain arithmetic in this file; chart.templ only
// draws what Layout computed, and every text goes through templ's escaping.
package chart

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is how a series is drawn.
type Kind int

const (
	// Line joins the values with a line; a date without a value breaks it.
	Line Kind = iota
	// Bars draws one bar per date, up from zero or down below it.
	Bars
)

// Point is one date's value. A provisional value (pushed before the
// day closed) is drawn apart: a hollow mark, joined by a dashed line.
type Point struct {
	Date        time.Time
	Value       int64
	Provisional bool
}

// Series is what one chart shows.
type Series struct {
	// ID is unique within the page; it names the SVG's title and desc
	// elements for aria-labelledby.
	ID string
	// Title heads the chart and is its accessible name.
	Title string
	Kind  Kind
	// From and To are the first and last dates of the x axis.
	From, To time.Time
	// Points, oldest first; dates outside From..To are ignored.
	Points []Point
	// Format writes a value for the description; Short for the y axis
	// labels; Append, when set, appends what Format writes (the marks'
	// tooltips use it, to format hundreds of values without allocating).
	Format, Short func(int64) string
	Append        func([]byte, int64) []byte
}

// Geometry of every chart: the SVG scales to its container width.
const (
	Width        = 480
	Height       = 220
	marginLeft   = 60
	marginRight  = 12
	marginTop    = 12
	marginBottom = 32
	yTickCount   = 5
	maxXTicks    = 5
)

// Tick is one labelled position on an axis.
type Tick struct {
	Pos   float64 // x for the x axis, y for the y axis
	Label string
}

// Mark is one value drawn: a bar's rectangle or a line's dot. Its tooltip
// and accessible text is its date and value: "2026-02-16: ₹1,18,000.00".
type Mark struct {
	X, Y, W, H  float64
	Negative    bool
	Provisional bool
	Date        time.Time
	Value       int64
}

// Plot is a laid-out chart, ready to draw.
type Plot struct {
	ID, Title string
	Kind      Kind
	Width     int
	Height    int
	// Desc summarises the chart in words for screen readers.
	Desc string
	// Lines are SVG polyline point lists, one per unbroken run of final
	// dates; Dashed join a provisional date to its neighbours.
	Lines  []string
	Dashed []string
	// Gaps are the x of the range's dates without a document, each drawn
	// as a marker on the zero line.
	Gaps   []float64
	Marks  []Mark
	XTicks []Tick
	YTicks []Tick
	// ZeroY is the y of the zero line; Left, Right, Top and Bottom bound
	// the plotting area.
	ZeroY                    float64
	Left, Right, Top, Bottom float64
	// Empty is true when no date of the range has a value.
	Empty bool
	// appendValue formats a value for a mark's tooltip.
	appendValue func([]byte, int64) []byte
}

// Layout computes the plot of a series.
func Layout(s Series) Plot {
	p := Plot{
		ID: s.ID, Title: s.Title, Kind: s.Kind, Width: Width, Height: Height,
		Left: marginLeft, Right: Width - marginRight, Top: marginTop, Bottom: Height - marginBottom,
	}
	format, short := s.Format, s.Short
	if format == nil {
		format = func(v int64) string { return strconv.FormatInt(v, 10) }
	}
	if short == nil {
		short = format
	}
	p.appendValue = s.Append
	if p.appendValue == nil {
		p.appendValue = func(b []byte, v int64) []byte { return append(b, format(v)...) }
	}
	days := int(s.To.Sub(s.From)/(24*time.Hour)) + 1
	if days < 1 {
		days = 1
	}
	pts := make([]Point, 0, len(s.Points))
	for _, pt := range s.Points {
		if !pt.Date.Before(s.From) && !pt.Date.After(s.To) {
			pts = append(pts, pt)
		}
	}
	p.Empty = len(pts) == 0

	lo, hi := int64(0), int64(0)
	for _, pt := range pts {
		lo, hi = min(lo, pt.Value), max(hi, pt.Value)
	}
	ticks, tlo, thi := niceTicks(float64(lo), float64(hi), yTickCount)
	y := func(v float64) float64 {
		return round1(p.Bottom - (v-tlo)/(thi-tlo)*(p.Bottom-p.Top))
	}
	for _, t := range ticks {
		p.YTicks = append(p.YTicks, Tick{Pos: y(t), Label: short(int64(math.Round(t)))})
	}
	p.ZeroY = y(0)

	slot := (p.Right - p.Left) / float64(days)
	x := func(d time.Time) float64 {
		i := int(d.Sub(s.From) / (24 * time.Hour))
		return p.Left + slot*(float64(i)+0.5)
	}
	step := max(1, (days+maxXTicks-1)/maxXTicks)
	for i := 0; i < days; i += step {
		d := s.From.AddDate(0, 0, i)
		p.XTicks = append(p.XTicks, Tick{Pos: round1(x(d)), Label: d.Format("02 Jan")})
	}

	p.Marks = make([]Mark, 0, len(pts))
	var run []string
	var prev time.Time
	prevXY, prevFinal := "", false
	next := s.From
	for i, pt := range pts {
		for ; next.Before(pt.Date); next = next.AddDate(0, 0, 1) {
			p.Gaps = append(p.Gaps, round1(x(next)))
		}
		next = pt.Date.AddDate(0, 0, 1)
		px, py := round1(x(pt.Date)), y(float64(pt.Value))
		switch s.Kind {
		case Bars:
			w := round1(max(1, slot*0.7))
			top, h := py, p.ZeroY-py
			if h < 0 {
				top, h = p.ZeroY, -h
			}
			p.Marks = append(p.Marks, Mark{X: round1(px - w/2), Y: top, W: w, H: round1(h), Negative: pt.Value < 0, Provisional: pt.Provisional, Date: pt.Date, Value: pt.Value})
		default:
			xy := fmtf(px) + "," + fmtf(py)
			adjacent := i > 0 && pt.Date.Sub(prev) <= 24*time.Hour
			if (!adjacent || pt.Provisional || !prevFinal) && len(run) > 0 {
				p.Lines = append(p.Lines, strings.Join(run, " "))
				run = run[:0]
			}
			if adjacent && (pt.Provisional || !prevFinal) {
				p.Dashed = append(p.Dashed, prevXY+" "+xy)
			}
			if !pt.Provisional {
				run = append(run, xy)
			}
			prevXY, prevFinal = xy, !pt.Provisional
			p.Marks = append(p.Marks, Mark{X: px, Y: py, Negative: pt.Value < 0, Provisional: pt.Provisional, Date: pt.Date, Value: pt.Value})
		}
		prev = pt.Date
	}
	for ; !pts0(pts) && !next.After(s.To); next = next.AddDate(0, 0, 1) {
		p.Gaps = append(p.Gaps, round1(x(next)))
	}
	if len(run) > 0 {
		p.Lines = append(p.Lines, strings.Join(run, " "))
	}
	p.Desc = describe(s, pts, days, format)
	return p
}

func describe(s Series, pts []Point, days int, format func(int64) string) string {
	rng := s.From.Format("2006-01-02") + " to " + s.To.Format("2006-01-02")
	if len(pts) == 0 {
		return s.Title + ", " + rng + ": no data."
	}
	lo, hi := pts[0], pts[0]
	var sum int64
	for _, pt := range pts {
		if pt.Value < lo.Value {
			lo = pt
		}
		if pt.Value > hi.Value {
			hi = pt
		}
		sum += pt.Value
	}
	return s.Title + ", " + rng + ": " + strconv.Itoa(len(pts)) + " of " + strconv.Itoa(days) +
		" days reported; total " + format(sum) +
		"; highest " + format(hi.Value) + " on " + hi.Date.Format("2006-01-02") +
		"; lowest " + format(lo.Value) + " on " + lo.Date.Format("2006-01-02") + "."
}

// niceTicks returns about n round tick values covering lo..hi, and the
// axis ends (the first and last tick).
func niceTicks(lo, hi float64, n int) ([]float64, float64, float64) {
	if hi == lo {
		hi = lo + 1
	}
	step := niceNum((hi-lo)/float64(n-1), true)
	start := math.Floor(lo/step) * step
	end := math.Ceil(hi/step) * step
	var ticks []float64
	for v := start; v <= end+step/2; v += step {
		ticks = append(ticks, v)
	}
	return ticks, start, end
}

// niceNum rounds x to 1, 2, 5 or 10 times a power of ten (Heckbert's
// "nice numbers for graph labels").
func niceNum(x float64, round bool) float64 {
	exp := math.Floor(math.Log10(x))
	f := x / math.Pow(10, exp)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, exp)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func fmtf(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func itoa(n int) string { return strconv.Itoa(n) }

// pts0 reports whether there are no points (an empty chart marks no gaps:
// it says "No data" instead).
func pts0(pts []Point) bool { return len(pts) == 0 }
