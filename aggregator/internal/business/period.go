package business

import (
	"sort"
	"time"
)

// Kind is a period tile: the day itself, or a period to date.
type Kind string

// The overview's tiles, in the order they are shown.
const (
	DayKind   Kind = "day"
	WeekKind  Kind = "week"  // Monday to date
	MonthKind Kind = "month" // 1st of the month to date
	FYKind    Kind = "fy"    // Indian financial year (from 1 April) to date
)

// Kinds lists the tiles in order.
var Kinds = []Kind{DayKind, WeekKind, MonthKind, FYKind}

// Label is the tile's title.
func (k Kind) Label() string {
	switch k {
	case WeekKind:
		return "Week to date"
	case MonthKind:
		return "Month to date"
	case FYKind:
		return "Financial year to date"
	default:
		return "Day"
	}
}

// Period is a run of business dates, both ends included.
type Period struct {
	From, To time.Time
}

// Days is how many dates the period holds.
func (p Period) Days() int { return int(p.To.Sub(p.From).Hours()/24) + 1 }

// PeriodOf is the period of kind k that ends on d.
func PeriodOf(k Kind, d time.Time) Period {
	y, m, day := d.Date()
	switch k {
	case WeekKind:
		back := (int(d.Weekday()) + 6) % 7 // days since Monday
		return Period{From: d.AddDate(0, 0, -back), To: d}
	case MonthKind:
		return Period{From: time.Date(y, m, 1, 0, 0, 0, 0, time.UTC), To: d}
	case FYKind:
		if m < time.April {
			y--
		}
		return Period{From: time.Date(y, time.April, 1, 0, 0, 0, 0, time.UTC), To: d}
	default:
		_ = day
		return Period{From: d, To: d}
	}
}

// Shift is how far back a comparison looks.
type Shift string

// The comparisons of every tile.
const (
	WeekBefore  Shift = "week"
	MonthBefore Shift = "month"
	YearBefore  Shift = "year"
)

// Shifts lists the comparisons in order.
var Shifts = []Shift{WeekBefore, MonthBefore, YearBefore}

// Back moves a date back by the shift: 7 days, or a calendar month or year
// with the day clamped to the end of a shorter month (31 Mar → 28 or 29
// Feb; 29 Feb 2028 → 28 Feb 2027).
func (s Shift) Back(d time.Time) time.Time {
	switch s {
	case WeekBefore:
		return d.AddDate(0, 0, -7)
	case MonthBefore:
		return addMonthsClamped(d, -1)
	default:
		return addMonthsClamped(d, -12)
	}
}

// Words is the comparison in words ("than a week before").
func (s Shift) Words() string {
	switch s {
	case WeekBefore:
		return "a week before"
	case MonthBefore:
		return "a month before"
	default:
		return "a year before"
	}
}

func addMonthsClamped(d time.Time, n int) time.Time {
	y, m, day := d.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	if day > last {
		day = last
	}
	return time.Date(first.Year(), first.Month(), day, 0, 0, 0, 0, time.UTC)
}

// Compared is the period of kind k ending on the shifted date: the same
// period as it stood one week, month or year before (the week to date of
// last week runs from last Monday to last week's same weekday).
func Compared(k Kind, d time.Time, s Shift) Period { return PeriodOf(k, s.Back(d)) }

// Change compares a figure with an earlier one.
type Change struct {
	Shift Shift
	Prev  int64
	// Ratio is (cur − prev) / |prev|; OK is false when prev is zero or
	// the earlier period has no final day (nothing to compare with).
	Ratio float64
	OK    bool
}

// NewChange compares cur with prev (prevDays final days behind prev).
func NewChange(s Shift, cur, prev int64, prevDays int) Change {
	c := Change{Shift: s, Prev: prev}
	if prev == 0 || prevDays == 0 {
		return c
	}
	c.Ratio, c.OK = float64(cur-prev)/absf(prev), true
	return c
}

func absf(v int64) float64 {
	if v < 0 {
		return float64(-v)
	}
	return float64(v)
}

// Tile is one period's chain total with its comparisons.
type Tile struct {
	Kind    Kind
	Period  Period
	Net     int64
	Days    int // final branch-days in the sum
	Changes []Change
}

// Tiles computes every tile for date d over the branches (final days only).
func Tiles(branches []*Branch, d time.Time) []Tile {
	out := make([]Tile, 0, len(Kinds))
	for _, k := range Kinds {
		p := PeriodOf(k, d)
		t := Tile{Kind: k, Period: p}
		t.Net, t.Days = sumAll(branches, p)
		for _, s := range Shifts {
			prev, days := sumAll(branches, Compared(k, d, s))
			t.Changes = append(t.Changes, NewChange(s, t.Net, prev, days))
		}
		out = append(out, t)
	}
	return out
}

func sumAll(branches []*Branch, p Period) (net int64, days int) {
	for _, b := range branches {
		n, c := b.Sum(p)
		net += n
		days += c
	}
	return net, days
}

// Unusual says whether a day's net revenue stands out against the same
// weekday of the previous weeks.
type Unusual struct {
	Flag bool
	// Median of the same weekday over the previous UnusualWeeks weeks
	// (final days only), and how many such days there were.
	Median  int64
	Samples int
	// Low is true when the day is below UnusualLow of the median, else it
	// is above UnusualHigh of it.
	Low bool
}

// The unusual-day rule: below 50% or above 200% of the median of the same
// weekday over the previous 8 weeks, with at least 4 such days.
const (
	UnusualWeeks      = 8
	UnusualMinSamples = 4
	UnusualLow        = 0.5
	UnusualHigh       = 2.0
)

// UnusualDay judges the branch's final day d.
func (b *Branch) UnusualDay(d time.Time) Unusual {
	day, ok := b.Final(d)
	if !ok {
		return Unusual{}
	}
	var vals []int64
	for w := 1; w <= UnusualWeeks; w++ {
		if p, ok := b.Final(d.AddDate(0, 0, -7*w)); ok {
			vals = append(vals, p.NetRevenue)
		}
	}
	u := Unusual{Samples: len(vals)}
	if len(vals) < UnusualMinSamples {
		return u
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	if n := len(vals); n%2 == 1 {
		u.Median = vals[n/2]
	} else {
		u.Median = (vals[n/2-1] + vals[n/2]) / 2
	}
	if u.Median <= 0 {
		return u
	}
	m := float64(u.Median)
	switch v := float64(day.NetRevenue); {
	case v < UnusualLow*m:
		u.Flag, u.Low = true, true
	case v > UnusualHigh*m:
		u.Flag = true
	}
	return u
}

// Spark is one point of a sparkline: a date's net revenue, or a gap.
type Spark struct {
	Date    time.Time
	Value   int64
	Final   bool
	Missing bool
}

// Sparkline is the n dates ending on d, each final, provisional or missing.
func (b *Branch) Sparkline(d time.Time, n int) []Spark {
	out := make([]Spark, 0, n)
	from := d.AddDate(0, 0, -(n - 1))
	i := b.search(from)
	for t := from; !t.After(d); t = t.AddDate(0, 0, 1) {
		for i < b.len() && b.Days.Date(i).Before(t) {
			i++
		}
		if i < b.len() && b.Days.Date(i).Equal(t) {
			x := b.Days.Day(i)
			out = append(out, Spark{Date: t, Value: x.NetRevenue, Final: x.Final})
		} else {
			out = append(out, Spark{Date: t, Missing: true})
		}
	}
	return out
}

// SameWeekday is the change of the final day d against d − 7.
func (b *Branch) SameWeekday(d time.Time) Change {
	cur, ok := b.Final(d)
	if !ok {
		return Change{Shift: WeekBefore}
	}
	prev, ok := b.Final(d.AddDate(0, 0, -7))
	if !ok {
		return Change{Shift: WeekBefore}
	}
	return NewChange(WeekBefore, cur.NetRevenue, prev.NetRevenue, 1)
}
