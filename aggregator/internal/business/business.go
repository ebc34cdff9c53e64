// Package business reads the chain's money the way the owner does: one
// business date for the headline, period tiles compared with earlier
// periods, and per branch a trend, the same-weekday change and a flag on
// an unusual day. It works on plain per-branch series of daily figures,
// built once per sync (see Build), so a page asks questions in O(log n)
// per branch. Provisional (not final) days are kept apart: they never
// enter a sum, an average, a count of days reported or a comparison.
package business

import (
	"iter"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"sort"
	"time"
)

// Day is one branch's figures for one business date (midnight UTC).
type Day struct {
	Date       time.Time
	Final      bool
	NetRevenue int64 // paise
	NetProfit  int64 // paise
	Expenses   int64 // paise
	Bills      int64
}

// Series is one branch's days by position, oldest first, one per date.
// The aggregator's series read the index's documents in place (nothing
// is copied per day: at 5,000 branches × 3 years a copy would cost
// hundreds of MiB); a DaySlice holds days in memory.
type Series interface {
	Len() int
	// Date is day i's business date, midnight UTC.
	Date(i int) time.Time
	Day(i int) Day
}

// DaySlice is a Series held in memory.
type DaySlice []Day

// Len is the number of days.
func (s DaySlice) Len() int { return len(s) }

// Date is day i's date.
func (s DaySlice) Date(i int) time.Time { return s[i].Date }

// Day is day i.
func (s DaySlice) Day(i int) Day { return s[i] }

// Branch is one branch's daily figures.
// Excluded marks a branch whose metrics check is down or never up: it
// does not hold the headline date back (its absence is reported instead).
type Branch struct {
	ID, Name string
	Excluded bool
	Days     Series // nil: no days
	// prefix[i] is the sum of final net revenue of days 0 to i-1;
	// finals[i] the count of final days among them.
	prefix []int64
	finals []int32
}

func (b *Branch) len() int {
	if b.Days == nil {
		return 0
	}
	return b.Days.Len()
}

// Prepare computes the branch's prefix sums, reading every day once; call
// once after filling Days (FromDocuments does it).
func (b *Branch) Prepare() {
	n := b.len()
	b.prefix = make([]int64, n+1)
	b.finals = make([]int32, n+1)
	fn, _ := b.Days.(finalNet)
	for i := range n {
		var final bool
		var net int64
		if fn != nil {
			final, net = fn.FinalNet(i)
		} else {
			d := b.Days.Day(i)
			final, net = d.Final, d.NetRevenue
		}
		b.prefix[i+1], b.finals[i+1] = b.prefix[i], b.finals[i]
		if final {
			b.prefix[i+1] += net
			b.finals[i+1]++
		}
	}
}

// finalNet is a Series that reads a day's is_final and net revenue alone,
// for less than Day costs (the index's rows); Prepare uses it when there.
type finalNet interface {
	FinalNet(i int) (final bool, net int64)
}

// search is the index of the first day on or after t.
func (b *Branch) search(t time.Time) int {
	return sort.Search(b.len(), func(i int) bool { return !b.Days.Date(i).Before(t) })
}

// Final is the branch's final figures of date t.
func (b *Branch) Final(t time.Time) (Day, bool) {
	i := b.search(t)
	if i < b.len() && b.Days.Date(i).Equal(t) {
		if d := b.Days.Day(i); d.Final {
			return d, true
		}
	}
	return Day{}, false
}

// LatestFinal is the newest final date, zero when none.
func (b *Branch) LatestFinal() time.Time {
	if b.prefix != nil {
		// The newest day whose count of finals grows.
		for i := b.len(); i > 0; i-- {
			if b.finals[i] != b.finals[i-1] {
				return b.Days.Date(i - 1)
			}
		}
		return time.Time{}
	}
	for i := b.len() - 1; i >= 0; i-- {
		if b.Days.Day(i).Final {
			return b.Days.Date(i)
		}
	}
	return time.Time{}
}

// Sum is the final net revenue over [p.From, p.To] and how many final
// days it holds.
func (b *Branch) Sum(p Period) (net int64, days int) {
	if b.prefix == nil {
		b.Prepare()
	}
	lo, hi := b.search(p.From), b.search(p.To.AddDate(0, 0, 1))
	return b.prefix[hi] - b.prefix[lo], int(b.finals[hi] - b.finals[lo])
}

// maxLookback bounds the walk back for a common final date.
const maxLookback = 400

// HeadlineDate is the business date the overview leads with: the latest
// date on which every branch not Excluded has a final document. With no
// such branch it is the newest final date of any branch. ok is false when
// there is no such date (nothing final, or the branches never agree in
// maxLookback days).
func HeadlineDate(branches []*Branch) (d time.Time, ok bool) {
	var start time.Time
	eligible := 0
	for _, b := range branches {
		if b.Excluded {
			continue
		}
		eligible++
		l := b.LatestFinal()
		if l.IsZero() {
			return time.Time{}, false
		}
		if start.IsZero() || l.Before(start) {
			start = l
		}
	}
	if eligible == 0 {
		for _, b := range branches {
			if l := b.LatestFinal(); l.After(start) {
				start = l
			}
		}
		return start, !start.IsZero()
	}
	for n, t := 0, start; n < maxLookback; n, t = n+1, t.AddDate(0, 0, -1) {
		all := true
		for _, b := range branches {
			if b.Excluded {
				continue
			}
			if _, ok := b.Final(t); !ok {
				all = false
				break
			}
		}
		if all {
			return t, true
		}
	}
	return time.Time{}, false
}

// FromDocuments builds the branches' series from documents ordered by
// branch then date (as the service's EachMetric yields them), keeping of
// each only the figures the owner's pages read; names are the newest
// document's.
func FromDocuments(docs iter.Seq[metrics.Document]) []*Branch {
	var out []*Branch
	var cur *Branch
	var days DaySlice
	flush := func() {
		if cur != nil {
			cur.Days = days
			cur.Prepare()
		}
	}
	for d := range docs {
		if cur == nil || cur.ID != d.BranchID {
			flush()
			cur, days = &Branch{ID: d.BranchID}, nil
			out = append(out, cur)
		}
		t, err := layout.ParseDate(d.SummaryDate)
		if err != nil {
			continue
		}
		if d.BranchName != "" {
			cur.Name = d.BranchName
		}
		days = append(days, DayOf(t, d))
	}
	flush()
	return out
}

// DayOf is the Day of document d of date t: the figures the owner's
// pages read.
func DayOf(t time.Time, d metrics.Document) Day {
	return Day{Date: t, Final: d.IsFinal, NetRevenue: d.NetRevenue, NetProfit: d.NetProfit, Expenses: d.TotalExpenses, Bills: d.TotalBills}
}

// Status is what the headline needs of a branch beyond its documents.
type Status struct {
	ID, Name string
	// Excluded: its metrics check is failing (down or never up).
	Excluded bool
}

// Select returns the series of the given branches, in their order, with
// their names and exclusions: fresh copies sharing the series' days, so
// the series (built once per sync) are never changed. A branch without
// documents gets an empty series.
func Select(series map[string]*Branch, st []Status) []*Branch {
	out := make([]*Branch, 0, len(st))
	for _, s := range st {
		b := Branch{ID: s.ID}
		if have := series[s.ID]; have != nil {
			b = *have
		}
		b.Name, b.Excluded = s.Name, s.Excluded
		out = append(out, &b)
	}
	return out
}

// ByID indexes branches by id.
func ByID(branches []*Branch) map[string]*Branch {
	m := make(map[string]*Branch, len(branches))
	for _, b := range branches {
		m[b.ID] = b
	}
	return m
}
