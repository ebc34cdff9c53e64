package components

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/web/view"
)

func TestCompareBranchPicker(t *testing.T) {
	r := view.PresetRange(today, 7)
	choices := []view.BranchChoice{
		{ID: "b-big", Name: "Big", Selected: true},
		{ID: "b-small", Name: "Small", Selected: true},
		{ID: "b-evil", Name: `<script>alert(1)</script>`},
	}
	rows := []view.CompareRow{
		{ID: "b-small", Name: "Small", Days: 7, NetRevenue: view.TotalOf(700000), Bills: view.TotalOf(70), NetProfit: view.TotalOf(-70000)},
		{ID: "b-big", Name: "Big", Days: 5, NetRevenue: view.TotalOf(5000000), Bills: view.TotalOf(21), NetProfit: view.TotalOf(1000000)},
	}
	view.RankRows(rows)
	total := view.CompareRow{Days: 12, NetRevenue: view.TotalOf(5700000), Bills: view.TotalOf(91), NetProfit: view.TotalOf(930000)}
	csv := "/export.csv?branch=b-big&branch=b-small&from=2026-02-11&to=2026-02-17"
	tests := []struct {
		name       string
		page       view.ComparePage
		checked    []string
		totalLabel string
		ignored    bool
	}{
		{"two of three picked", view.ComparePage{Choices: choices, Selection: true, Rows: rows, Total: total, CSVURL: csv}, []string{"b-big", "b-small"}, "Selected branches", false},
		{"an unknown id left out", view.ComparePage{Choices: choices, Selection: true, Ignored: 1, Rows: rows, Total: total, CSVURL: csv}, []string{"b-big", "b-small"}, "Selected branches", true},
		{"none picked", view.ComparePage{Choices: []view.BranchChoice{{ID: "b-big", Name: "Big"}, {ID: "b-small", Name: "Small"}}, Rows: rows, Total: total, CSVURL: "/export.csv?from=2026-02-11&to=2026-02-17"}, nil, "All branches", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.page.Now, tt.page.Range = now, r
			d, html := render(t, Compare(tt.page))
			form := byTestID(d.Selection, "range-form")
			boxes := byTestID(form, "branch-checkbox")
			if boxes.Length() != len(tt.page.Choices) {
				t.Fatalf("%d checkboxes in the range form, want %d", boxes.Length(), len(tt.page.Choices))
			}
			var checked []string
			boxes.Each(func(_ int, s *goquery.Selection) {
				if s.AttrOr("name", "") != "branch" || s.AttrOr("type", "") != "checkbox" {
					t.Errorf("checkbox %s is not a branch= checkbox", s.AttrOr("value", ""))
				}
				if _, ok := s.Attr("checked"); ok {
					checked = append(checked, s.AttrOr("value", ""))
				}
			})
			if strings.Join(checked, ",") != strings.Join(tt.checked, ",") {
				t.Errorf("checked %v, want %v", checked, tt.checked)
			}
			if got := byTestID(d.Selection, "csv-link").AttrOr("href", ""); got != tt.page.CSVURL {
				t.Errorf("csv link %q, want %q", got, tt.page.CSVURL)
			}
			if got := text(byTestID(d.Selection, "compare-total").Find("th")); got != tt.totalLabel {
				t.Errorf("total labelled %q, want %q", got, tt.totalLabel)
			}
			if got := byTestID(d.Selection, "branch-ignored").Length() == 1; got != tt.ignored {
				t.Errorf("ignored banner shown %v, want %v", got, tt.ignored)
			}
			if n := byTestID(d.Selection, "compare-row").Length(); n != len(tt.page.Rows) {
				t.Errorf("%d rows, want %d", n, len(tt.page.Rows))
			}
			if strings.Contains(html, "<script>alert(1)") || d.Find("main script").Length() != 0 {
				t.Error("a branch name became markup")
			}
		})
	}
	d, _ := render(t, Compare(view.ComparePage{Now: now, Range: r, Choices: choices, Selection: true, Rows: rows, Total: total, CSVURL: csv}))
	if got := text(d.Find(`[data-testid="branch-choice"][data-branch-id="b-evil"]`)); got != `<script>alert(1)</script>` {
		t.Errorf("evil name shown as %q, want the text", got)
	}
}

func TestAlertsSinceKeepsItsZone(t *testing.T) {
	gulf := time.FixedZone("+04:00", 4*3600)
	since := time.Date(2026, 2, 12, 0, 0, 0, 0, gulf)
	d, _ := render(t, Alerts(view.AlertsPage{Now: now, Problems: []view.Problem{
		{BranchID: "b-1", BranchName: "One", Check: "metrics", State: view.StateDown, Since: since},
	}}))
	if got := text(byTestID(d.Selection, "problem").Find("time")); got != "2026-02-12 00:00 +04:00" {
		t.Errorf("since shown as %q, want it in the branch's +04:00", got)
	}
}
