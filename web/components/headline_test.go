package components

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/web/view"
)

func TestHeadlineSection(t *testing.T) {
	d := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	h := view.Headline{
		Date: d, Net: 22416600, Reported: 2, Branches: 3, Missing: []string{"Powai"},
		Tiles: []view.Tile{{Label: "Day", Range: "Mon 30 Nov 2026", Net: 22416600, Changes: []view.Change{
			{Against: "a week before", OK: true, Ratio: 0.125},
			{Against: "a month before", OK: true, Ratio: -0.03},
			{Against: "a year before"},
		}}},
		Unusual: []string{"Andheri: ₹1,000.00 net revenue is below half the usual Monday"},
	}
	doc, _ := render(t, HeadlineSection(h))
	tests := []struct{ id, want string }{
		{"headline-text", "Mon 30 Nov 2026: ₹2,24,166.00 net revenue, 2 of 3 branches reported"},
		{"headline-missing", "Missing for Mon 30 Nov 2026: Powai. Their figures are not in the total."},
		{"unusual-days", "Andheri: ₹1,000.00 net revenue is below half the usual Monday"},
	}
	for _, tc := range tests {
		if got := text(byTestID(doc.Selection, tc.id)); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.id, got, tc.want)
		}
	}
	var changes []string
	byTestID(doc.Selection, "tile-change").Each(func(_ int, s *goquery.Selection) { changes = append(changes, text(s)) })
	want := []string{"▲ 12.5% up on a week before", "▼ 3.0% down on a month before", "no figures a year before"}
	if strings.Join(changes, "|") != strings.Join(want, "|") {
		t.Errorf("changes = %q, want %q", changes, want)
	}
}

func TestHeadlineWithoutDate(t *testing.T) {
	doc, _ := render(t, HeadlineSection(view.Headline{Branches: 2}))
	if got := text(byTestID(doc.Selection, "headline-text")); !strings.HasPrefix(got, "No business date yet") {
		t.Fatalf("headline = %q", got)
	}
}

func TestSparklineProvisionalAndMissing(t *testing.T) {
	d := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pts := []view.SparkPoint{
		{Date: d, Value: 100, Final: true},
		{Date: d.AddDate(0, 0, 1), Value: 120, Final: true},
		{Date: d.AddDate(0, 0, 2), Missing: true},
		{Date: d.AddDate(0, 0, 3), Value: 90, Final: true},
		{Date: d.AddDate(0, 0, 4), Value: 0}, // provisional: drawn apart, not as a real 0
	}
	doc, _ := render(t, Sparkline(view.LayoutSpark(pts)))
	if n := doc.Find("polyline.spark-line:not(.provisional)").Length(); n != 1 {
		t.Errorf("solid runs = %d, want 1 (a single final point after a gap draws no line)", n)
	}
	if n := byTestID(doc.Selection, "spark-provisional").Length(); n != 1 {
		t.Errorf("dashed links = %d, want 1", n)
	}
	if n := byTestID(doc.Selection, "spark-gap").Length(); n != 1 {
		t.Errorf("gap markers = %d, want 1", n)
	}
	label, _ := doc.Find("svg.spark").Attr("aria-label")
	if label != "Net revenue over 5 days: 3 final, 1 provisional (dashed), 1 missing (gaps)" {
		t.Errorf("aria-label = %q", label)
	}
}

func TestLossCause(t *testing.T) {
	tests := []struct {
		r    view.BranchRow
		want string
	}{
		{view.BranchRow{NetProfit: -100, Expenses: 5200000}, "expenses ₹52,000.00"},
		{view.BranchRow{NetProfit: 100, Expenses: 5200000}, ""},
		{view.BranchRow{NetProfit: -100}, ""},
	}
	for _, tc := range tests {
		if got := lossCause(tc.r); got != tc.want {
			t.Errorf("lossCause(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestHeadlineNamesCapped: a chain of thousands lists ten missing and ten
// unusual branches in its headline, and says how many more there are.
func TestHeadlineNamesCapped(t *testing.T) {
	var names []string
	for i := range 1234 {
		names = append(names, "Salon "+itoa(i))
	}
	h := view.Headline{Date: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Reported: 1, Branches: 1235, Missing: names, Unusual: names}
	var b strings.Builder
	if err := HeadlineSection(h).Render(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	missing := strings.Join(strings.Fields(d.Find(`[data-testid="headline-missing"]`).Text()), " ")
	if !strings.Contains(missing, "Salon 0, Salon 1,") || !strings.Contains(missing, "Salon 9 and 1,224 more.") || strings.Contains(missing, "Salon 10,") {
		t.Errorf("missing reads %q", missing)
	}
	items := d.Find(`[data-testid="unusual-days"] li`)
	if items.Length() != 11 || !strings.HasPrefix(items.Last().Text(), "and 1224 more") {
		t.Errorf("%d unusual items, the last %q", items.Length(), items.Last().Text())
	}
}
