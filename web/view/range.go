package view

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Presets are the range selector's fixed choices, in days.
var Presets = []int{7, 30, 90, 365}

// DefaultDays is the range a page shows without a selection.
const DefaultDays = 30

// MaxRangeDays bounds a custom range, so one request cannot ask for decades.
const MaxRangeDays = 3 * 366

const dateLayout = "2006-01-02"

// Range is a span of business dates, both ends included.
type Range struct {
	From, To time.Time // dates at midnight UTC
	// Days is the preset chosen (7, 30, 90, 365), 0 for a custom range.
	Days int
	// Error is why the requested range was not usable ("" when it was); the
	// default range is shown instead.
	Error string
	// Provisional counts provisional (not yet final) days in totals,
	// averages and days reported (?provisional=include); by default they
	// are shown but left out.
	Provisional bool
}

// Len is the number of dates in the range.
func (r Range) Len() int {
	return int(r.To.Sub(r.From)/(24*time.Hour)) + 1
}

// FromText and ToText are the ends as YYYY-MM-DD.
func (r Range) FromText() string { return r.From.Format(dateLayout) }

// ToText is the last date as YYYY-MM-DD.
func (r Range) ToText() string { return r.To.Format(dateLayout) }

// Query is the range as URL query values: days=N for a preset, from and to
// for a custom range.
func (r Range) Query() url.Values {
	q := url.Values{}
	if r.Provisional {
		q.Set("provisional", "include")
	}
	if r.Days > 0 {
		q.Set("days", strconv.Itoa(r.Days))
	} else {
		q.Set("from", r.FromText())
		q.Set("to", r.ToText())
	}
	return q
}

// PresetRange is the last n dates up to and including today.
func PresetRange(today time.Time, n int) Range {
	to := dateOf(today)
	return Range{From: to.AddDate(0, 0, -(n - 1)), To: to, Days: n}
}

// ParseRange reads a range from a query: days=7|30|90|365, or from=&to=
// (YYYY-MM-DD). today is the current business date. A missing or bad
// selection gives the default range, with Error saying what was wrong.
func ParseRange(q url.Values, today time.Time) Range {
	r := parseRange(q, today)
	r.Provisional = q.Get("provisional") == "include"
	return r
}

// Counts says whether a document enters the range's totals: a final one
// always, a provisional one only when asked for.
func (r Range) Counts(final bool) bool { return final || r.Provisional }

func parseRange(q url.Values, today time.Time) Range {
	from, to, days := q.Get("from"), q.Get("to"), q.Get("days")
	if days == "" && from == "" && to == "" {
		return PresetRange(today, DefaultDays)
	}
	if days != "" && days != "custom" {
		n, err := strconv.Atoi(days)
		if err != nil || !isPreset(n) {
			r := PresetRange(today, DefaultDays)
			r.Error = fmt.Sprintf("days must be one of 7, 30, 90 or 365, not %q", days)
			return r
		}
		return PresetRange(today, n)
	}
	f, errF := time.Parse(dateLayout, from)
	t, errT := time.Parse(dateLayout, to)
	var msg string
	switch {
	case errF != nil:
		msg = fmt.Sprintf("from %q is not a date (YYYY-MM-DD)", from)
	case errT != nil:
		msg = fmt.Sprintf("to %q is not a date (YYYY-MM-DD)", to)
	case t.Before(f):
		msg = "the range ends before it starts"
	case int(t.Sub(f)/(24*time.Hour))+1 > MaxRangeDays:
		msg = fmt.Sprintf("a range may span at most %d days", MaxRangeDays)
	default:
		return Range{From: f, To: t}
	}
	r := PresetRange(today, DefaultDays)
	r.Error = msg
	return r
}

func isPreset(n int) bool {
	for _, p := range Presets {
		if p == n {
			return true
		}
	}
	return false
}

// dateOf is t's calendar date (in t's own zone) at midnight UTC.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
