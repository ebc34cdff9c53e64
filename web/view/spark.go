package view

import (
	"html"
	"strconv"
	"strings"

	"github.com/branchwatch/branchwatch/web/format"
)

// The sparkline's box, in SVG units.
const (
	sparkW   = 120
	sparkH   = 28
	sparkPad = 3
)

// SparkShape is a laid-out sparkline: solid runs of final days, dashed
// links to provisional days, and markers where a day is missing.
type SparkShape struct {
	Solid   []string // polyline points
	Dashed  []string // polyline points
	Dots    []SparkDot
	Gaps    []float64 // x of missing days
	Summary string    // the line in words, for screen readers
	// SVG is the whole sparkline's markup, written once by LayoutSpark
	// (the overview shows 500 of them): numbers formatted here, and the
	// summary and tooltips (dates and amounts) HTML-escaped.
	SVG string
}

// SparkDot is a provisional day's hollow mark.
type SparkDot struct {
	X, Y        float64
	Provisional bool
	Title       string
}

// LayoutSpark lays out a sparkline of pts (done once per sync by the
// dashboard, not once per page).
func LayoutSpark(pts []SparkPoint) SparkShape {
	var s SparkShape
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
	x := func(i int) float64 { return sparkRound(sparkPad + float64(i)*step) }
	y := func(v int64) float64 {
		return sparkRound(sparkH - sparkPad - float64(v-lo)/span*float64(sparkH-2*sparkPad))
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
		pt := FormatCoord(x(i)) + "," + FormatCoord(y(p.Value))
		title := format.Day(p.Date) + ": " + format.Money(p.Value)
		if !p.Final {
			flush()
			if prev >= 0 {
				s.Dashed = append(s.Dashed, FormatCoord(x(prev))+","+FormatCoord(y(pts[prev].Value))+" "+pt)
			}
			s.Dots = append(s.Dots, SparkDot{X: x(i), Y: y(p.Value), Provisional: true, Title: title + " (provisional)"})
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
	s.SVG = sparkSVG(s)
	return s
}

// sparkSVG writes the markup of a laid-out sparkline.
func sparkSVG(s SparkShape) string {
	var b strings.Builder
	b.Grow(512)
	b.WriteString(`<svg class="spark" viewBox="0 0 120 28" width="120" height="28" role="img" aria-label="`)
	b.WriteString(html.EscapeString(s.Summary))
	b.WriteString(`" xmlns="http://www.w3.org/2000/svg">`)
	for _, l := range s.Solid {
		b.WriteString(`<polyline points="` + l + `" class="spark-line"></polyline>`)
	}
	for _, l := range s.Dashed {
		b.WriteString(`<polyline points="` + l + `" class="spark-line provisional" data-testid="spark-provisional"></polyline>`)
	}
	for _, d := range s.Dots {
		b.WriteString(`<circle cx="` + FormatCoord(d.X) + `" cy="` + FormatCoord(d.Y) + `" r="2" class="spark-dot provisional"><title>`)
		b.WriteString(html.EscapeString(d.Title))
		b.WriteString(`</title></circle>`)
	}
	for _, x := range s.Gaps {
		b.WriteString(`<line x1="` + FormatCoord(x) + `" x2="` + FormatCoord(x) + `" y1="22" y2="27" class="spark-gap" data-testid="spark-gap"></line>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func sparkRound(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// FormatCoord writes an SVG coordinate.
func FormatCoord(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
