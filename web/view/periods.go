package view

import (
	"net/url"
	"time"
)

// Grouping is how the branch page's table groups its rows.
type Grouping string

// The groupings of the branch page's table.
const (
	ByDay   Grouping = "day"
	ByWeek  Grouping = "week"  // Monday to Sunday
	ByMonth Grouping = "month" // calendar months
)

// Groupings lists them in the order offered.
var Groupings = []Grouping{ByDay, ByWeek, ByMonth}

// ParseGrouping reads ?rows=; anything else gives ByDay.
func ParseGrouping(q url.Values) Grouping {
	switch g := Grouping(q.Get("rows")); g {
	case ByWeek, ByMonth:
		return g
	}
	return ByDay
}

// Label is the grouping in words.
func (g Grouping) Label() string {
	switch g {
	case ByWeek:
		return "Weekly"
	case ByMonth:
		return "Monthly"
	}
	return "Daily"
}

// PeriodRow is one week or month of the branch page's table: the sums of
// its days that count (see Range.Counts).
type PeriodRow struct {
	From, To time.Time
	// Days is how many days were summed; Provisional how many were shown
	// but left out.
	Days, Provisional int
	Totals            FigureTotals
}

// periodStart is the first date of the week or month holding d.
func periodStart(g Grouping, d time.Time) time.Time {
	if g == ByMonth {
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

// Periods groups the page's days by week or month (nil for ByDay), oldest
// first, each period cut to the range.
func (p BranchPage) Periods() []PeriodRow {
	if p.Grouping == ByDay || p.Grouping == "" {
		return nil
	}
	var out []PeriodRow
	for _, d := range p.Days {
		start := periodStart(p.Grouping, d.Date)
		if len(out) == 0 || !out[len(out)-1].From.Equal(maxTime(start, p.Range.From)) {
			end := start.AddDate(0, 0, 6)
			if p.Grouping == ByMonth {
				end = start.AddDate(0, 1, -1)
			}
			out = append(out, PeriodRow{From: maxTime(start, p.Range.From), To: minTime(end, p.Range.To)})
		}
		r := &out[len(out)-1]
		if p.Range.Counts(d.Doc.IsFinal) {
			r.Days++
			r.Totals.Add(d.Doc)
		} else {
			r.Provisional++
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Comparison is the range's figures against the previous period of the
// same length (the days just before it).
type Comparison struct {
	From, To time.Time
	// Days counted in each period.
	Days, PrevDays int
	Current        FigureTotals
	Previous       FigureTotals
}
