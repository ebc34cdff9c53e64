package chart

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

var day0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func series(kind Kind, values map[int]int64, days int) Series {
	s := Series{ID: "t", Title: "Test", Kind: kind, From: day0, To: day0.AddDate(0, 0, days-1)}
	for i := 0; i < days; i++ {
		if v, ok := values[i]; ok {
			s.Points = append(s.Points, Point{Date: day0.AddDate(0, 0, i), Value: v})
		}
	}
	return s
}

func TestLayoutLine(t *testing.T) {
	tests := []struct {
		name   string
		values map[int]int64
		days   int
		lines  int
		marks  int
	}{
		{"continuous", map[int]int64{0: 10, 1: 20, 2: 30}, 3, 1, 3},
		{"gap breaks the line", map[int]int64{0: 10, 1: 20, 3: 30, 4: 5}, 5, 2, 4},
		{"single point", map[int]int64{2: 7}, 5, 1, 1},
		{"empty", nil, 7, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Layout(series(Line, tt.values, tt.days))
			if len(p.Lines) != tt.lines || len(p.Marks) != tt.marks {
				t.Errorf("lines %d marks %d, want %d and %d", len(p.Lines), len(p.Marks), tt.lines, tt.marks)
			}
			if p.Empty != (tt.marks == 0) {
				t.Errorf("Empty = %v", p.Empty)
			}
			for _, m := range p.Marks {
				if m.X < p.Left || m.X > p.Right || m.Y < p.Top || m.Y > p.Bottom {
					t.Errorf("mark %+v outside the plot area", m)
				}
			}
		})
	}
}

func TestLayoutScale(t *testing.T) {
	p := Layout(series(Line, map[int]int64{0: 0, 1: 100}, 2))
	// Higher values are higher on screen (smaller y); zero sits on the axis.
	if !(p.Marks[1].Y < p.Marks[0].Y) {
		t.Errorf("100 drawn at y=%v, not above 0 at y=%v", p.Marks[1].Y, p.Marks[0].Y)
	}
	if p.Marks[0].Y != p.ZeroY {
		t.Errorf("0 drawn at y=%v, zero line at %v", p.Marks[0].Y, p.ZeroY)
	}
	if !(p.Marks[1].X > p.Marks[0].X) {
		t.Error("later dates are not further right")
	}
	// Y ticks are round numbers covering the data, labelled in order.
	var labels []string
	for _, tk := range p.YTicks {
		labels = append(labels, tk.Label)
	}
	if labels[0] != "0" || labels[len(labels)-1] != "100" {
		t.Errorf("y ticks %v do not run from 0 to 100", labels)
	}
}

func TestLayoutBars(t *testing.T) {
	p := Layout(series(Bars, map[int]int64{0: 50, 1: -25, 2: 100}, 3))
	if len(p.Marks) != 3 {
		t.Fatalf("%d bars, want 3", len(p.Marks))
	}
	neg := p.Marks[1]
	if !neg.Negative || neg.Y != p.ZeroY || neg.H <= 0 {
		t.Errorf("negative bar %+v should hang down from the zero line %v", neg, p.ZeroY)
	}
	pos := p.Marks[0]
	if pos.Negative || pos.Y+pos.H != p.ZeroY {
		t.Errorf("positive bar %+v should stand on the zero line %v", pos, p.ZeroY)
	}
	if p.Marks[2].H <= pos.H {
		t.Error("a bigger value has a shorter bar")
	}
}

func TestLayoutXTicks(t *testing.T) {
	tests := []struct {
		days, maxTicks int
	}{{7, 7}, {30, 5}, {90, 5}, {365, 5}}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.days), func(t *testing.T) {
			p := Layout(series(Line, nil, tt.days))
			if len(p.XTicks) == 0 || len(p.XTicks) > tt.maxTicks {
				t.Errorf("%d x ticks, want 1..%d", len(p.XTicks), tt.maxTicks)
			}
			if p.XTicks[0].Label != "01 Feb" {
				t.Errorf("first x label %q", p.XTicks[0].Label)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	s := series(Line, map[int]int64{0: 10, 2: 30, 3: -5}, 4)
	got := Layout(s).Desc
	want := "Test, 2026-02-01 to 2026-02-04: 3 of 4 days reported; total 35; highest 30 on 2026-02-03; lowest -5 on 2026-02-04."
	if got != want {
		t.Errorf("Desc = %q\nwant   %q", got, want)
	}
}

func TestSVG(t *testing.T) {
	s := series(Bars, map[int]int64{0: 5, 1: 6}, 2)
	s.Title = `Bills <script>alert(1)</script>`
	var buf bytes.Buffer
	if err := SVG(Layout(s)).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	svg := d.Find(`[data-testid="chart-t"] svg`)
	if svg.AttrOr("role", "") != "img" || svg.AttrOr("aria-labelledby", "") != "t-title t-desc" {
		t.Errorf("svg lacks its accessible name: role %q labelledby %q", svg.AttrOr("role", ""), svg.AttrOr("aria-labelledby", ""))
	}
	if got := svg.Find("title#t-title").Text(); got != s.Title {
		t.Errorf("title = %q", got)
	}
	if d.Find("script").Length() != 0 {
		t.Error("the title became markup")
	}
	if n := svg.Find("rect.bar").Length(); n != 2 {
		t.Errorf("%d bars drawn, want 2", n)
	}
	if svg.Find("rect title").First().Text() != "2026-02-01: 5" {
		t.Errorf("bar tooltip = %q", svg.Find("rect title").First().Text())
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		first  float64
		last   float64
	}{
		{"zero to 97", 0, 97, 0, 100},
		{"negative", -130, 420, -200, 500},
		{"flat", 0, 0, 0, 1},
		{"paise", 0, 11800000, 0, 12000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks, lo, hi := niceTicks(tt.lo, tt.hi, 5)
			if lo != tt.first || hi != tt.last || ticks[0] != lo || ticks[len(ticks)-1] != hi {
				t.Errorf("ticks %v (%v..%v), want %v..%v", ticks, lo, hi, tt.first, tt.last)
			}
		})
	}
}

func TestMarksMatchTempl(t *testing.T) {
	values := map[int]int64{0: 50, 1: -25, 2: 100, 4: 1 << 40, 5: -7}
	for _, kind := range []Kind{Line, Bars} {
		for _, days := range []int{1, 7, 90, 365} {
			t.Run(fmt.Sprintf("kind %d, %d days", kind, days), func(t *testing.T) {
				s := series(kind, values, days)
				s.Format = func(v int64) string { return fmt.Sprintf("<%d & %d>", v, -v) } // escaped either way
				p := Layout(s)
				var fast, slow bytes.Buffer
				if err := marks(p).Render(context.Background(), &fast); err != nil {
					t.Fatal(err)
				}
				if err := marksTempl(p).Render(context.Background(), &slow); err != nil {
					t.Fatal(err)
				}
				if fast.String() != slow.String() {
					t.Errorf("marks differ:\ngo:    %.400s\ntempl: %.400s", fast.String(), slow.String())
				}
				if strings.Contains(fast.String(), "<0 &") {
					t.Error("a tooltip was not escaped")
				}
			})
		}
	}
}

// TestAppendFloatMatchesStrconv: the tenths fast path writes what
// strconv's shortest form writes, for tenths and for anything else.
func TestAppendFloatMatchesStrconv(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, -0.1, 0.5, 12.3, -12.3, 99.9, 100, 439.7, 1e15 / 10, 0.05, 1.25, 1.0 / 3, math.Inf(1), math.NaN(), 1e300}
	for i := -20000; i <= 20000; i++ {
		values = append(values, math.Round(float64(i)*0.37*10)/10, float64(i)*0.37)
	}
	for _, v := range values {
		got := string(appendFloat(nil, v))
		if want := strconv.FormatFloat(v, 'f', -1, 64); got != want {
			t.Errorf("appendFloat(%v) = %q, want %q", v, got, want)
		}
	}
}
