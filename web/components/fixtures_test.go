package components

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/view"
)

var (
	ist   = time.FixedZone("+05:30", 5*3600+1800)
	now   = time.Date(2026, 2, 17, 9, 30, 0, 0, ist)
	today = time.Date(2026, 2, 17, 0, 0, 0, 0, time.UTC)
)

// render renders c and parses the HTML.
func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, html
}

// byTestID selects elements by data-testid under sel.
func byTestID(sel *goquery.Selection, id string) *goquery.Selection {
	return sel.Find(`[data-testid="` + id + `"]`)
}

// text is the trimmed, whitespace-collapsed text of a selection.
func text(sel *goquery.Selection) string {
	return strings.Join(strings.Fields(sel.Text()), " ")
}

// doc builds a final metrics document with consistent derived figures.
func doc(branch string, date time.Time, bills, gross, discount, refund, cogs, expenses int64) metrics.Document {
	d := metrics.Document{
		SchemaVersion: 1, BranchID: branch, BranchName: branch, SummaryDate: date.Format("2006-01-02"),
		GeneratedAt: date.Add(21*time.Hour + 45*time.Minute).Format(time.RFC3339), IsFinal: true, Currency: "INR",
		TotalBills: bills, GrossRevenue: gross, DiscountAmount: discount, RefundAmount: refund,
		CGSTCollected: gross * 9 / 100, SGSTCollected: gross * 9 / 100,
		ActualServiceCOGS: cogs / 2, ActualProductCOGS: cogs - cogs/2, TotalExpenses: expenses,
	}
	d.Derive()
	return d
}

func overviewFixture() view.OverviewPage {
	rows := []view.BranchRow{
		{
			ID: "branch-andheri", Name: "Andheri",
			Metrics: view.Check{State: view.StateUp}, Backup: view.Check{State: view.StateUp},
			Latest: today.AddDate(0, 0, -1), Reported: true, NetRevenue: 11800000, Bills: 42, NetProfit: 6800000,
			LastMetricsDate: today.AddDate(0, 0, -1), LastBackup: now.Add(-11 * time.Hour), LastBackupSize: 5 << 20,
		},
		{
			ID: "branch-bandra", Name: "Bandra",
			Metrics: view.Check{State: view.StateDown, Detail: "last document 2026-02-10"}, Backup: view.Check{State: view.StateLate},
			Latest: today.AddDate(0, 0, -7), Reported: true, NetRevenue: -200000, Bills: 0, NetProfit: -1700000,
			LastMetricsDate: today.AddDate(0, 0, -7), LastBackup: now.Add(-35 * time.Hour), LastBackupSize: 3 << 20, BadDocs: 2,
		},
		{
			ID: "branch-colaba", Name: "Colaba",
			Metrics: view.Check{State: view.StateNever}, Backup: view.Check{State: view.StateNever},
		},
	}
	view.SortRows(rows, view.SortState)
	return view.OverviewPage{
		Now: now, Sync: view.SyncStatus{Last: now.Add(-3 * time.Minute)}, Sort: view.SortState,
		Branches: rows, Totals: view.Sum(rows),
		Problems: []view.Problem{
			{BranchID: "branch-bandra", BranchName: "Bandra", Check: "metrics", State: view.StateDown, Detail: "last document 2026-02-10"},
			{BranchID: "branch-colaba", BranchName: "Colaba", Check: "metrics", State: view.StateNever},
		},
	}
}
