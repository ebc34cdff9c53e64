package components

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/web/view"
)

func TestCompare(t *testing.T) {
	r := view.PresetRange(today, 7)
	rows := []view.CompareRow{
		{ID: "b-small", Name: "Small", Days: 7, NetRevenue: view.TotalOf(700000), Bills: view.TotalOf(70), NetProfit: view.TotalOf(-70000)},
		{ID: "b-big", Name: "Big", Days: 5, NetRevenue: view.TotalOf(5000000), Bills: view.TotalOf(21), NetProfit: view.TotalOf(1000000)},
		{ID: "b-none", Name: "None", Days: 0},
	}
	view.RankRows(rows)
	var total view.CompareRow
	for _, row := range rows {
		total.AddRow(row)
	}
	p := view.ComparePage{Now: now, Range: r, Rows: rows, Total: total, CSVURL: "/export.csv?from=2026-02-11&to=2026-02-17"}
	d, _ := render(t, Compare(p))

	tests := []struct {
		name, branch, testid, want string
	}{
		{"top rank", "b-big", "rank", "1"},
		{"second rank", "b-small", "rank", "2"},
		{"sum", "b-big", "net-revenue", "₹50,000.00"},
		{"average per reported day", "b-big", "avg-net-revenue", "₹10,000.00"},
		{"bills per day", "b-small", "avg-bills", "10.0"},
		{"negative average", "b-small", "avg-net-profit", "−₹100.00"},
		{"days reported of range", "b-big", "days", "5 / 7"},
		{"no days, no division by zero", "b-none", "avg-net-revenue", "₹0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := d.Find(`[data-testid="compare-row"][data-branch-id="` + tt.branch + `"]`)
			if got := text(byTestID(row, tt.testid)); got != tt.want {
				t.Errorf("%s %s = %q, want %q", tt.branch, tt.testid, got, tt.want)
			}
		})
	}
	if got := text(byTestID(byTestID(d.Selection, "compare-total"), "net-revenue")); got != "₹57,000.00" {
		t.Errorf("total = %q", got)
	}
	if got := byTestID(d.Selection, "csv-link").AttrOr("href", ""); got != p.CSVURL {
		t.Errorf("csv link = %q", got)
	}
	link := byTestID(d.Find(`[data-branch-id="b-big"]`), "branch-name").AttrOr("href", "")
	if link != "/branches/b-big?days=7" {
		t.Errorf("branch link %q does not carry the range", link)
	}
}

func TestAlerts(t *testing.T) {
	p := view.AlertsPage{
		Now: now,
		Problems: []view.Problem{
			{BranchID: "b-1", BranchName: "One", Check: "backup", State: view.StateDown, Since: now.Add(-time.Hour), Detail: "no dump since 2026-02-15"},
		},
		History: []view.AlertEvent{
			{At: now.Add(-time.Hour), BranchID: "b-1", BranchName: "One", Check: "backup", From: view.StateUp, To: view.StateDown, Text: "One: backup is down", Kind: "down", Delivery: "delivered"},
			{At: now.Add(-2 * time.Hour), BranchID: "b-2", BranchName: "Two", Check: "metrics", From: view.StateDown, To: view.StateUp, Text: "Two: metrics is up", Kind: "recovered", Delivery: "pending, 2 attempts", Failed: true, Error: "webhook: 503"},
		},
	}
	d, _ := render(t, Alerts(p))
	if n := byTestID(d.Selection, "problem").Length(); n != 1 {
		t.Errorf("%d problems, want 1", n)
	}
	hist := byTestID(d.Selection, "history-row")
	if hist.Length() != 2 {
		t.Fatalf("%d history rows, want 2", hist.Length())
	}
	tests := []struct {
		name, got, want string
	}{
		{"delivered", text(byTestID(hist.Eq(0), "delivered")), "delivered"},
		{"failed delivery shows the error", text(byTestID(hist.Eq(1), "delivered")), "pending, 2 attempts: webhook: 503"},
		{"kind", text(byTestID(hist.Eq(1), "kind")), "recovered"},
		{"change in words", text(hist.Eq(0).Find(".state").Last()), "Down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}

	d, _ = render(t, Alerts(view.AlertsPage{Now: now}))
	if byTestID(d.Selection, "no-problems").Length() != 1 || byTestID(d.Selection, "no-history").Length() != 1 {
		t.Error("an empty alerts page does not say so")
	}
}

func TestErrorPage(t *testing.T) {
	d, _ := render(t, ErrorPage(view.ErrorPage{Status: http.StatusNotFound, Title: "Not found", Message: `no branch "<b>x</b>"`}))
	if got := text(byTestID(d.Selection, "error-title")); got != "Not found" {
		t.Errorf("title = %q", got)
	}
	if got := byTestID(d.Selection, "error-message").Text(); !strings.Contains(got, "<b>x</b>") {
		t.Errorf("message = %q, want the text with its brackets", got)
	}
}

func TestLayoutNavAndAssets(t *testing.T) {
	d, _ := render(t, Compare(view.ComparePage{Now: now, Range: view.PresetRange(today, 7)}))
	if got := byTestID(d.Selection, "nav").Find(`[aria-current="page"]`).Text(); got != "Compare" {
		t.Errorf("current nav item = %q", got)
	}
	d.Find(`link[rel="stylesheet"], script[src]`).Each(func(_ int, s *goquery.Selection) {
		u := s.AttrOr("href", s.AttrOr("src", ""))
		if !strings.HasPrefix(u, "/static/") {
			t.Errorf("asset %q is not served by the dashboard itself", u)
		}
	})
	if d.Find(`meta[name="viewport"]`).Length() != 1 {
		t.Error("no viewport meta: unusable on a phone")
	}
}

// TestAlertDeliveryPerChannel: each channel's delivery of an alert is
// shown, a failed one with its error.
func TestAlertDeliveryPerChannel(t *testing.T) {
	d, _ := render(t, Alerts(view.AlertsPage{Now: now, History: []view.AlertEvent{{
		At: now, BranchID: "b-1", BranchName: "One", Check: "backup", To: view.StateDown, Kind: "down", Text: "One: backup is down",
		Delivery: "pending", Failed: true, Deliveries: []view.Delivery{
			{Channel: "email", State: "delivered 2026-02-17 23:01 +05:30"},
			{Channel: "telegram", State: "pending, 3 attempts", Failed: true, Error: "post alert: Telegram answered 502 Bad Gateway"},
			{Channel: "webhook", State: "failed, not retried (1 attempt)", Failed: true, Error: "post alert: webhook answered 404 Not Found"},
		},
	}}}))
	rows := byTestID(d.Selection, "delivery")
	if rows.Length() != 3 {
		t.Fatalf("%d deliveries shown, want 3", rows.Length())
	}
	for i, want := range []struct{ channel, text string }{
		{"email", "email: delivered 2026-02-17 23:01 +05:30"},
		{"telegram", "telegram: pending, 3 attempts: post alert: Telegram answered 502 Bad Gateway"},
		{"webhook", "webhook: failed, not retried (1 attempt): post alert: webhook answered 404 Not Found"},
	} {
		r := rows.Eq(i)
		if ch, _ := r.Attr("data-channel"); ch != want.channel || text(r) != want.text {
			t.Errorf("delivery %d: %s %q, want %s %q", i, ch, text(r), want.channel, want.text)
		}
	}
	if rows.Eq(1).Find(".neg").Length() != 1 || rows.Eq(0).Find(".neg").Length() != 0 {
		t.Error("a failed delivery is not marked, or a good one is")
	}
}
