package dashboard

import (
	"strings"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/digest"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

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
		h.Unusual = append(h.Unusual, b.Name+": "+digest.UnusualWords(b.Day, b.Unusual))
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

// rowBusiness fills a row's headline-date figures and trend.
func rowBusiness(r *view.BranchRow, bd business.BranchDay) {
	r.Reported = bd.Reported
	if bd.Reported {
		r.NetRevenue, r.Bills, r.NetProfit, r.Expenses = bd.Day.NetRevenue, bd.Day.Bills, bd.Day.NetProfit, bd.Day.Expenses
		r.SameWeekday = viewChange(bd.SameWeekday)
		r.Unusual = digest.UnusualWords(bd.Day, bd.Unusual)
	}
	pts := make([]view.SparkPoint, 0, len(bd.Spark))
	for _, p := range bd.Spark {
		pts = append(pts, view.SparkPoint{Date: p.Date, Value: p.Value, Final: p.Final, Missing: p.Missing})
	}
	r.Spark = view.LayoutSpark(pts)
}

// reading is the overview's business part for one index and one set of
// excluded branches: the headline and each branch's row figures, by id.
type reading struct {
	headline view.Headline
	rows     map[string]view.BranchRow
}

// readingCache keeps the reading of the current index: the headline
// date, tiles, sparklines and flags change only with the data and with
// which branches are down, so they are worked out once, not per request.
type readingCache struct {
	mu       sync.Mutex
	version  uint64 // of the service's series
	excluded string
	r        *reading
}

func (d *Dashboard) reading(statuses []service.BranchStatus) *reading {
	hs := service.HeadlineStatuses(statuses)
	var ex strings.Builder
	for _, s := range hs {
		if s.Excluded {
			ex.WriteString(s.ID)
			ex.WriteByte(',')
		}
	}
	all, version := d.svc.Series()
	rc := &d.readings
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.r != nil && rc.version == version && rc.excluded == ex.String() {
		return rc.r
	}
	sum := business.Summarize(business.Select(all, hs), time.Time{})
	r := &reading{headline: headline(sum), rows: make(map[string]view.BranchRow, len(sum.Branches))}
	for _, bd := range sum.Branches {
		var row view.BranchRow
		rowBusiness(&row, bd)
		r.rows[bd.ID] = row
	}
	rc.version, rc.excluded, rc.r = version, ex.String(), r
	return r
}
