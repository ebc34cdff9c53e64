package dashboard

import (
	"strings"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

// seriesCache keeps the branches' daily series (with their prefix sums)
// of one sync: built once after each sync, so a page's periods and
// comparisons cost a binary search per branch, not a pass over a year of
// documents.
type seriesCache struct {
	mu       sync.Mutex
	key      cacheKey
	branches map[string]*business.Branch
}

func (sc *seriesCache) get(k cacheKey, build func() []*business.Branch) map[string]*business.Branch {
	k.minute, k.sort = 0, ""
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.branches != nil && sc.key == k {
		return sc.branches
	}
	m := map[string]*business.Branch{}
	for _, b := range build() {
		m[b.ID] = b
	}
	sc.key, sc.branches = k, m
	return m
}

// syncKey identifies the index a sync produced.
func syncKey(st service.SyncStatus) cacheKey {
	return cacheKey{syncs: st.Syncs, failures: st.Failures, attempt: st.LastAttempt.UnixNano()}
}

// businessBranches are the series of the given branches, in their order,
// each excluded from holding back the headline date when its metrics
// check is failing (down or never up).
func (d *Dashboard) businessBranches(st service.SyncStatus, statuses []service.BranchStatus) []*business.Branch {
	all := d.series.get(syncKey(st), func() []*business.Branch {
		return business.FromDocuments(d.svc.EachMetric("", time.Time{}, time.Time{}))
	})
	out := make([]*business.Branch, 0, len(statuses))
	for _, s := range statuses {
		b := business.Branch{ID: s.ID}
		if have := all[s.ID]; have != nil {
			b = *have
		}
		b.Name = s.Name
		b.Excluded = s.Metrics.State.Failing()
		out = append(out, &b)
	}
	return out
}

// headline turns a summary into the overview's lead.
func headline(s business.Summary) view.Headline {
	h := view.Headline{Net: s.Net, Reported: s.Reported, Branches: len(s.Branches)}
	if !s.OK {
		return h
	}
	h.Date = s.Date
	for _, b := range s.Missing() {
		h.Missing = append(h.Missing, b.Name)
	}
	for _, b := range s.Unusual() {
		h.Unusual = append(h.Unusual, b.Name+": "+unusualWords(b.Day, b.Unusual))
	}
	for _, t := range s.Tiles {
		vt := view.Tile{Label: t.Kind.Label(), Net: t.Net, Range: format.DayRange(t.Period.From, t.Period.To)}
		for _, c := range t.Changes {
			vt.Changes = append(vt.Changes, viewChange(c))
		}
		h.Tiles = append(h.Tiles, vt)
	}
	return h
}

func viewChange(c business.Change) view.Change {
	return view.Change{Against: c.Shift.Words(), OK: c.OK, Ratio: c.Ratio}
}

// unusualWords says why a day was flagged: "₹2,000.00 is 20% of the
// usual Sunday (median of 8 Sundays: ₹10,000.00)".
func unusualWords(d business.Day, u business.Unusual) string {
	if !u.Flag {
		return ""
	}
	wd := d.Date.Weekday().String()
	how := "below half"
	if !u.Low {
		how = "over twice"
	}
	var b strings.Builder
	b.WriteString(format.Money(d.NetRevenue) + " net revenue is " + how + " the usual " + wd)
	b.WriteString(" (median of the last " + plural(u.Samples, wd) + ": " + format.Money(u.Median) + ")")
	return b.String()
}

// rowBusiness fills a row's headline-date figures and trend.
func rowBusiness(r *view.BranchRow, bd business.BranchDay) {
	r.Reported = bd.Reported
	if bd.Reported {
		r.NetRevenue, r.Bills, r.NetProfit, r.Expenses = bd.Day.NetRevenue, bd.Day.Bills, bd.Day.NetProfit, bd.Day.Expenses
		r.SameWeekday = viewChange(bd.SameWeekday)
		r.Unusual = unusualWords(bd.Day, bd.Unusual)
	}
	r.Spark = make([]view.SparkPoint, 0, len(bd.Spark))
	for _, p := range bd.Spark {
		r.Spark = append(r.Spark, view.SparkPoint{Date: p.Date, Value: p.Value, Final: p.Final, Missing: p.Missing})
	}
}
