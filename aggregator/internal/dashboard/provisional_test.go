package dashboard_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

// A provisional document (pushed before the day closed) is shown but
// never counted: not in the headline, not in the compare page's sums,
// averages or days reported, unless the range asks for it.
func TestProvisionalDaysAreNotCounted(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	b := seed(t, st)
	prov := fixture.Doc(healthy, "2026-02-17", 999)
	prov.IsFinal = false
	fixture.PutDoc(t, st, prov)
	e := newEnv(t, st, nil)

	d := e.page(t, "/", http.StatusOK)
	if got := text(byTestID(d.Selection, "headline-date")); got != format.Day(businessDay(lastDay)) {
		t.Errorf("headline date = %q, want the last final day %s", got, lastDay)
	}
	if got := text(byTestID(row(d, healthy), "net-revenue")); got != format.Money(b.latest(healthy).NetRevenue) {
		t.Errorf("healthy net revenue = %q, want its final %s figure", got, lastDay)
	}
	if n := byTestID(row(d, healthy), "spark-provisional").Length(); n != 0 {
		t.Errorf("the sparkline ends at the headline date; a later provisional day is not on it (%d dashed)", n)
	}

	var sum int64
	for _, doc := range b.docs[healthy][days-6:] { // 2026-02-11..16, final
		sum += doc.NetRevenue
	}
	tests := []struct {
		query, days string
		net, avg    int64
	}{
		{"/compare?days=7", "6 / 7", sum, sum / 6},
		{"/compare?days=7&provisional=include", "7 / 7", sum + prov.NetRevenue, (sum + prov.NetRevenue) / 7},
	}
	for _, tc := range tests {
		d := e.page(t, tc.query, http.StatusOK)
		r := d.Find(`[data-testid="compare-row"][data-branch-id="` + healthy + `"]`)
		if got := text(byTestID(r, "days")); got != tc.days {
			t.Errorf("%s: days %q, want %q", tc.query, got, tc.days)
		}
		if got := text(byTestID(r, "net-revenue")); got != format.Money(tc.net) {
			t.Errorf("%s: net %q, want %q", tc.query, got, format.Money(tc.net))
		}
		if got := text(byTestID(r, "avg-net-revenue")); got != format.Money(tc.avg) {
			t.Errorf("%s: average %q, want %q", tc.query, got, format.Money(tc.avg))
		}
	}

	bp := e.page(t, "/branches/"+healthy+"?days=7", http.StatusOK)
	if got := text(byTestID(byTestID(bp.Selection, "day-totals"), "net_revenue")); got != format.Money(sum) {
		t.Errorf("branch page total = %q, want %q (final days only)", got, format.Money(sum))
	}
	if n := byTestID(bp.Selection, "provisional-line").Length(); n != 1 {
		t.Errorf("net revenue chart has %d dashed links to the provisional day, want 1", n)
	}
}

// The branch page compares its range with the days just before it, and
// groups long ranges by week or month.
func TestBranchPreviousPeriodAndWeeks(t *testing.T) {
	e, b, _ := s3Env(t)
	d := e.page(t, "/branches/"+healthy+"?days=7", http.StatusOK)
	var cur, prev int64
	for _, doc := range b.docs[healthy] {
		switch {
		case doc.SummaryDate >= "2026-02-11": // 11..16 (17 has none)
			cur += doc.NetRevenue
		case doc.SummaryDate >= "2026-02-04": // the 7 days before: 4..10
			prev += doc.NetRevenue
		}
	}
	got := text(byTestID(d.Selection, "prev-net_revenue"))
	if !strings.HasPrefix(got, "Net revenue: "+format.Money(cur)) || !strings.HasSuffix(got, "(before: "+format.Money(prev)+")") {
		t.Errorf("previous period = %q, want %s against %s", got, format.Money(cur), format.Money(prev))
	}
	if got := text(byTestID(d.Selection, "previous-period").Find("p")); !strings.Contains(got, "7 days reported, against 6 in this range") {
		t.Errorf("previous period days = %q", got)
	}
	w := e.page(t, "/branches/"+healthy+"?days=30&rows=week", http.StatusOK)
	rows := byTestID(w.Selection, "period-row")
	// 19 Jan (a Monday) .. 17 Feb: weeks of 19, 26 Jan, 2, 9 and 16 Feb.
	if rows.Length() != 5 {
		t.Fatalf("%d weekly rows, want 5", rows.Length())
	}
	var week int64
	for _, doc := range b.docs[healthy] {
		if doc.SummaryDate >= "2026-02-09" && doc.SummaryDate <= "2026-02-15" {
			week += doc.NetRevenue
		}
	}
	if got := text(byTestID(rows.Eq(3), "net_revenue")); got != format.Money(week) {
		t.Errorf("week of 9 Feb net revenue %q, want %q", got, format.Money(week))
	}
}
