package components

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

func branchFixture() view.BranchPage {
	r := view.PresetRange(today, 7)
	var days []view.DayRow
	for i := 0; i < 7; i++ {
		if i == 3 {
			continue // a missing day
		}
		date := r.From.AddDate(0, 0, i)
		d := doc("branch-andheri", date, int64(40+i), 12500000, 500000, 200000, 3500000, 1500000)
		days = append(days, view.DayRow{Date: date, Doc: d})
	}
	// The last day had only refunds: negative figures.
	last := &days[len(days)-1].Doc
	last.TotalBills, last.GrossRevenue, last.DiscountAmount, last.CGSTCollected, last.SGSTCollected = 0, 0, 0, 0, 0
	last.ActualServiceCOGS, last.ActualProductCOGS = 0, 0
	last.IsFinal = false
	last.Derive()
	return view.BranchPage{
		Now: now, ID: "branch-andheri", Name: "Andheri", Zone: "+05:30",
		Metrics: view.Check{State: view.StateUp}, Backup: view.Check{State: view.StateDown, Detail: "dump smaller than half the median"},
		Range: r, Days: days,
		Backups: []view.Backup{
			{Name: "branch-andheri_20260216_220005.dump", Taken: time.Date(2026, 2, 16, 22, 0, 5, 0, ist), Size: 12345, SHA256: strings.Repeat("ab", 32), DownloadURL: "/branches/branch-andheri/backups/branch-andheri_20260216_220005.dump"},
			{Name: "branch-andheri_20260215_220004.dump", Taken: time.Date(2026, 2, 15, 22, 0, 4, 0, ist), Size: 5 << 20},
		},
		BadDocs: []view.BadDocument{{Key: "branch-andheri/metrics/2026-02-13.json", Date: "2026-02-13", Reason: "net_revenue: 1 != gross_revenue - discount_amount - refund_amount"}},
		CSVURL:  "/export.csv?branch=branch-andheri&from=2026-02-11&to=2026-02-17",
	}
}

func TestBranchDailyTable(t *testing.T) {
	p := branchFixture()
	d, _ := render(t, Branch(p))
	rows := byTestID(d.Selection, "day-row")
	if rows.Length() != len(p.Days) {
		t.Fatalf("%d day rows, want %d", rows.Length(), len(p.Days))
	}
	// Every figure of the document is a column.
	if n := rows.First().Find("td").Length(); n != len(dailyColumns) || n != 18 {
		t.Errorf("%d figure cells, want 18 (every metric)", n)
	}
	// On a phone each row is a card, each figure under its column's
	// heading (data-label, shown by the style sheet).
	if !d.Find(`[data-testid="daily-table"]`).HasClass("day-cards") {
		t.Error("the daily table is not styled as cards on a phone")
	}
	d.Find(`[data-testid="day-row"] td, [data-testid="day-totals"] td`).Each(func(i int, s *goquery.Selection) {
		c := dailyColumns[i%len(dailyColumns)]
		if got, _ := s.Attr("data-label"); got != c.label || s.AttrOr("data-testid", "") != c.field {
			t.Errorf("cell %d (%s) is labelled %q, want %q", i, s.AttrOr("data-testid", ""), got, c.label)
		}
	})
	first := d.Find(`[data-testid="day-row"][data-date="2026-02-11"]`)
	tests := []struct {
		field, want string
	}{
		{"total_bills", "40"},
		{"gross_revenue", "₹1,25,000.00"},
		{"discount_amount", "₹5,000.00"},
		{"refund_amount", "₹2,000.00"},
		{"net_revenue", "₹1,18,000.00"},
		{"total_tax", "₹22,500.00"},
		{"total_cogs", "₹35,000.00"},
		{"gross_profit", "₹83,000.00"},
		{"net_profit", "₹68,000.00"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			if got := text(byTestID(first, tt.field)); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
	last := d.Find(`[data-testid="day-row"][data-date="2026-02-17"]`)
	if got := text(byTestID(last, "net_revenue")); got != "−₹2,000.00" {
		t.Errorf("refund-only day net revenue = %q", got)
	}
	if byTestID(last, "provisional").Length() != 1 {
		t.Error("a non-final day is not marked provisional")
	}
	if byTestID(first, "provisional").Length() != 0 {
		t.Error("a final day is marked provisional")
	}
	if d.Find(`[data-date="2026-02-14"]`).Length() != 0 {
		t.Error("a missing day has a row")
	}
	// The total leaves the provisional day out.
	var wantBills, wantNet int64
	for _, day := range p.Days {
		if day.Doc.IsFinal {
			wantBills += day.Doc.TotalBills
			wantNet += day.Doc.NetRevenue
		}
	}
	if got := text(byTestID(byTestID(d.Selection, "day-totals"), "net_revenue")); got != format.Money(wantNet) {
		t.Errorf("total net revenue = %q, want %q (final days only)", got, format.Money(wantNet))
	}
	if got := text(byTestID(d.Selection, "provisional-note")); got != "and left out of the total (1 day)" {
		t.Errorf("provisional note = %q", got)
	}
	if got := text(byTestID(byTestID(d.Selection, "day-totals"), "total_bills")); got != fmt.Sprint(wantBills) {
		t.Errorf("total bills = %q, want %d", got, wantBills)
	}
}

func TestBranchCharts(t *testing.T) {
	p := branchFixture()
	d, _ := render(t, Branch(p))
	for _, id := range []string{"net-revenue", "bills", "net-profit"} {
		t.Run(id, func(t *testing.T) {
			fig := byTestID(d.Selection, "chart-"+id)
			svg := fig.Find("svg")
			if svg.Length() != 1 {
				t.Fatal("no svg")
			}
			if svg.Find("title").First().Text() == "" || svg.Find("desc").Length() != 1 {
				t.Error("the chart has no title or desc for screen readers")
			}
			if got := byTestID(fig, "marks").Children().Length(); got != len(p.Days) {
				t.Errorf("%d marks, want one per day (%d)", got, len(p.Days))
			}
			if byTestID(fig, "x-axis").Find("text").Length() == 0 || byTestID(fig, "y-axis").Find("text").Length() == 0 {
				t.Error("an axis has no labels")
			}
		})
	}
	// The missing day breaks the revenue line in two, and is marked; the
	// provisional last day is joined by a dashed line and a hollow mark,
	// not drawn as a real figure.
	rev := byTestID(d.Selection, "chart-net-revenue")
	if n := rev.Find("polyline:not(.provisional)").Length(); n != 2 {
		t.Errorf("net revenue has %d solid line segments, want 2 around the gap", n)
	}
	if n := byTestID(rev, "provisional-line").Length(); n != 1 {
		t.Errorf("net revenue has %d dashed links, want 1 to the provisional day", n)
	}
	if n := byTestID(rev, "gaps").Find("line").Length(); n != 1 {
		t.Errorf("%d gap markers, want 1 for the missing day", n)
	}
	if n := rev.Find("circle.provisional").Length(); n != 1 {
		t.Errorf("%d provisional marks, want 1", n)
	}
	if n := byTestID(d.Selection, "chart-bills").Find("rect.provisional").Length(); n != 1 {
		t.Errorf("%d provisional bars, want 1", n)
	}
	// The refund-only day's profit bar is drawn as negative.
	if byTestID(d.Selection, "chart-net-profit").Find("rect.neg").Length() != 1 {
		t.Error("the negative profit bar is not marked negative")
	}
	tip := byTestID(d.Selection, "chart-net-revenue").Find("circle title").First().Text()
	if tip != "2026-02-11: ₹1,18,000.00" {
		t.Errorf("tooltip = %q", tip)
	}
}

func TestBranchBackupsAndBadDocs(t *testing.T) {
	p := branchFixture()
	d, _ := render(t, Branch(p))
	rows := byTestID(d.Selection, "backup-row")
	if rows.Length() != 2 {
		t.Fatalf("%d backup rows, want 2", rows.Length())
	}
	first := rows.First()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"taken in the branch zone", text(byTestID(first, "backup-taken").Find("time")), "2026-02-16 22:00 +05:30"},
		{"size", text(byTestID(first, "backup-size")), "12.1 KiB"},
		{"checksum", text(byTestID(first, "backup-sha256")), strings.Repeat("ab", 32)},
		{"download link", byTestID(first, "backup-download").AttrOr("href", ""), p.Backups[0].DownloadURL},
		{"no checksum", text(byTestID(rows.Eq(1), "backup-sha256")), "—"},
		{"bad doc reason", text(byTestID(d.Selection, "bad-doc-reason")), p.BadDocs[0].Reason},
		{"bad doc date", text(byTestID(d.Selection, "bad-doc-date")), "2026-02-13"},
		{"csv link", byTestID(d.Selection, "csv-link").AttrOr("href", ""), p.CSVURL},
		{"backup check down", text(byTestID(d.Selection, "backup-state").Find(".state")), "Down"},
		{"backup check reason", text(byTestID(byTestID(d.Selection, "backup-state"), "check-detail")), "dump smaller than half the median"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if byTestID(rows.Eq(1), "backup-download").Length() != 0 {
		t.Error("a download link without a URL")
	}
	if byTestID(d.Selection, "backups-more").Length() != 0 {
		t.Error("a 'show all' link when every backup is shown")
	}
	p.BackupsTotal, p.AllBackupsURL = 90, "/branches/branch-andheri?backups=all#backups"
	d, _ = render(t, Branch(p))
	if got := text(byTestID(d.Selection, "backups-more")); got != "Showing the newest 2 of 90. Show all backups" {
		t.Errorf("more backups: %q", got)
	}
}

func TestBranchRangeForm(t *testing.T) {
	tests := []struct {
		name     string
		rng      view.Range
		selected string
	}{
		{"preset", view.PresetRange(today, 90), "90"},
		{"custom", view.Range{From: today.AddDate(0, 0, -9), To: today}, "custom"},
		{"bad input", view.Range{From: today.AddDate(0, 0, -29), To: today, Days: 30, Error: "to \"x\" is not a date (YYYY-MM-DD)"}, "30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := branchFixture()
			p.Range = tt.rng
			d, _ := render(t, Branch(p))
			form := byTestID(d.Selection, "range-form")
			if form.AttrOr("method", "") != "get" {
				t.Error("the range form is not a GET form")
			}
			if got := byTestID(form, "range-days").Find("option[selected]").AttrOr("value", ""); got != tt.selected {
				t.Errorf("selected %q, want %q", got, tt.selected)
			}
			if got := byTestID(form, "range-from").AttrOr("value", ""); got != tt.rng.FromText() {
				t.Errorf("from = %q", got)
			}
			if got := byTestID(form, "range-to").AttrOr("value", ""); got != tt.rng.ToText() {
				t.Errorf("to = %q", got)
			}
			errMsg := byTestID(d.Selection, "range-error")
			if (errMsg.Length() == 1) != (tt.rng.Error != "") {
				t.Errorf("range error shown = %v, want %v", errMsg.Length() == 1, tt.rng.Error != "")
			}
			if tt.rng.Error != "" && !strings.Contains(errMsg.Text(), tt.rng.Error) {
				t.Errorf("range error %q does not contain %q", errMsg.Text(), tt.rng.Error)
			}
		})
	}
}

func TestBranchEmpty(t *testing.T) {
	p := view.BranchPage{Now: now, ID: "branch-x", Name: "X", Range: view.PresetRange(today, 7)}
	d, _ := render(t, Branch(p))
	for _, id := range []string{"no-days", "no-backups", "no-bad-docs"} {
		if byTestID(d.Selection, id).Length() != 1 {
			t.Errorf("no %s message", id)
		}
	}
	if got := d.Find(`[data-testid="chart-net-revenue"] text.empty`).Text(); got != "No data in this range" {
		t.Errorf("empty chart says %q", got)
	}
}

func TestBranchEscapesUntrustedText(t *testing.T) {
	p := branchFixture()
	name := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	p.Name, p.ID = name, name
	p.BadDocs[0].Reason = name
	p.Backups[0].Name = name
	d, _ := render(t, Branch(p))
	if d.Find("main script, main img, [onerror]").Length() != 0 {
		t.Error("untrusted text became markup")
	}
	if got := text(byTestID(d.Selection, "branch-title")); got != name {
		t.Errorf("title = %q, want the name as text", got)
	}
	if got := d.Find("head title").Text(); !strings.HasPrefix(got, name) {
		t.Errorf("<title> = %q", got)
	}
	var found bool
	d.Find("td").Each(func(_ int, s *goquery.Selection) { found = found || s.Text() == name })
	if !found {
		t.Error("the bad document's reason is not shown as text")
	}
}
