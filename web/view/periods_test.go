package view

import (
	"net/url"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

func TestPeriods(t *testing.T) {
	from := time.Date(2026, 1, 28, 0, 0, 0, 0, time.UTC) // a Wednesday
	r := Range{From: from, To: from.AddDate(0, 0, 13)}   // to Tue 10 Feb
	var days []DayRow
	for i := range 14 {
		d := from.AddDate(0, 0, i)
		days = append(days, DayRow{Date: d, Doc: metrics.Document{NetRevenue: 100, IsFinal: i != 13}})
	}
	type want struct {
		from, to          string
		days, provisional int
		net               int64
	}
	tests := []struct {
		g    Grouping
		want []want
	}{
		{ByWeek, []want{
			{"2026-01-28", "2026-02-01", 5, 0, 500}, // cut to the range's start
			{"2026-02-02", "2026-02-08", 7, 0, 700},
			{"2026-02-09", "2026-02-10", 1, 1, 100}, // the provisional day is left out
		}},
		{ByMonth, []want{
			{"2026-01-28", "2026-01-31", 4, 0, 400},
			{"2026-02-01", "2026-02-10", 9, 1, 900},
		}},
		{ByDay, nil},
	}
	for _, tc := range tests {
		got := BranchPage{Range: r, Days: days, Grouping: tc.g}.Periods()
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d periods, want %d", tc.g, len(got), len(tc.want))
		}
		for i, w := range tc.want {
			g := got[i]
			if g.From.Format(time.DateOnly) != w.from || g.To.Format(time.DateOnly) != w.to || g.Days != w.days || g.Provisional != w.provisional || g.Totals.Doc.NetRevenue != w.net {
				t.Errorf("%s period %d = %s..%s %d days %d provisional net %d, want %+v", tc.g, i, g.From.Format(time.DateOnly), g.To.Format(time.DateOnly), g.Days, g.Provisional, g.Totals.Doc.NetRevenue, w)
			}
		}
	}
	if ParseGrouping(url.Values{"rows": {"fortnight"}}) != ByDay || ParseGrouping(url.Values{"rows": {"month"}}) != ByMonth {
		t.Error("ParseGrouping")
	}
}
