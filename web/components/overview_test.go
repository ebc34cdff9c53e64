package components

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/web/view"
)

func TestOverviewRows(t *testing.T) {
	d, _ := render(t, Overview(overviewFixture()))
	rows := byTestID(d.Selection, "branch-row")
	if rows.Length() != 3 {
		t.Fatalf("got %d branch rows, want 3", rows.Length())
	}
	// Sorted by state: the down branch first, the healthy one last.
	var order []string
	rows.Each(func(_ int, s *goquery.Selection) { order = append(order, s.AttrOr("data-branch-id", "")) })
	if want := "branch-bandra,branch-colaba,branch-andheri"; strings.Join(order, ",") != want {
		t.Errorf("order = %v, want %s", order, want)
	}

	tests := []struct {
		name   string
		branch string
		testid string
		want   string
	}{
		{"name links to page", "branch-andheri", "branch-name", "Andheri"},
		{"net revenue in rupees", "branch-andheri", "net-revenue", "₹1,18,000.00"},
		{"bills", "branch-andheri", "bills", "42"},
		{"net profit", "branch-andheri", "net-profit", "₹68,000.00"},
		{"latest date", "branch-andheri", "latest-date", "2026-02-16"},
		{"backup age", "branch-andheri", "last-backup-age", "11 hours ago"},
		{"backup size", "branch-andheri", "last-backup-size", "5.0 MiB"},
		{"metrics state in words", "branch-andheri", "metrics-state", "Up"},
		{"down in words", "branch-bandra", "metrics-state", "Down"},
		{"down with its detail", "branch-bandra", "check-detail", "last document 2026-02-10"},
		{"late in words", "branch-bandra", "backup-state", "Late"},
		{"negative revenue visibly negative", "branch-bandra", "net-revenue", "−₹2,000.00"},
		{"bad docs", "branch-bandra", "bad-docs", "2"},
		{"never seen", "branch-colaba", "metrics-state", "Never seen"},
		{"no figures without a final day", "branch-colaba", "net-revenue", "— missing"},
		{"no backup", "branch-colaba", "last-backup-age", "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := d.Find(`[data-testid="branch-row"][data-branch-id="` + tt.branch + `"]`)
			cell := byTestID(row, tt.testid)
			if strings.HasSuffix(tt.testid, "-state") {
				cell = cell.Find(".state")
			}
			if got := text(cell); got != tt.want {
				t.Errorf("%s %s = %q, want %q", tt.branch, tt.testid, got, tt.want)
			}
		})
	}
}

func TestOverviewStatesHaveColourAndWords(t *testing.T) {
	d, _ := render(t, Overview(overviewFixture()))
	d.Find(".state").Each(func(_ int, s *goquery.Selection) {
		state := view.CheckState(s.AttrOr("data-state", ""))
		if state.Key() != string(state) {
			t.Errorf("badge %q has no known state (data-state %q) to colour it by", text(s), state)
		}
		if !strings.Contains(s.Text(), state.Word()) {
			t.Errorf("badge of %s says %q, not %q", state, text(s), state.Word())
		}
	})
	if n := d.Find(`.state[data-state="down"]`).Length(); n < 2 { // row + banner
		t.Errorf("%d down badges, want the row's and the banner's", n)
	}
}

func TestOverviewNegativeMoneyHasClass(t *testing.T) {
	d, _ := render(t, Overview(overviewFixture()))
	row := d.Find(`[data-branch-id="branch-bandra"]`)
	for _, id := range []string{"net-revenue", "net-profit"} {
		if !byTestID(row, id).Find(".money").HasClass("neg") {
			t.Errorf("%s: negative amount without the neg class", id)
		}
	}
	if byTestID(d.Find(`[data-branch-id="branch-andheri"]`), "net-revenue").Find(".money").HasClass("neg") {
		t.Error("positive amount has the neg class")
	}
}

func TestOverviewTotals(t *testing.T) {
	d, _ := render(t, Overview(overviewFixture()))
	tot := byTestID(d.Selection, "totals")
	tests := []struct {
		testid, want string
	}{
		{"total-net-revenue", "₹1,16,000.00"}, // 1,18,000 − 2,000
		{"total-bills", "42"},
		{"total-net-profit", "₹51,000.00"}, // 68,000 − 17,000
		{"total-bad-docs", "2"},
		{"total-branches", "2 of 3 branches reported"},
		{"total-states", "1 down, 1 never seen, 1 up"},
	}
	for _, tt := range tests {
		t.Run(tt.testid, func(t *testing.T) {
			if got := text(byTestID(tot, tt.testid)); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.testid, got, tt.want)
			}
		})
	}
}

func TestOverviewBannerSyncAndRefresh(t *testing.T) {
	p := overviewFixture()
	p.Sync.Error = "list branch-x/metrics/: connection refused"
	d, _ := render(t, Overview(p))
	banner := byTestID(d.Selection, "alerts-banner")
	if got := banner.AttrOr("data-problems", ""); got != "2" {
		t.Errorf("banner problems = %q, want 2", got)
	}
	if n := byTestID(banner, "banner-problem").Length(); n != 2 {
		t.Errorf("banner lists %d problems, want 2", n)
	}
	if got := text(byTestID(d.Selection, "last-synced")); got != "Last synced: 3 minutes ago" {
		t.Errorf("last synced = %q", got)
	}
	if got := text(byTestID(d.Selection, "sync-error")); !strings.Contains(got, "connection refused") {
		t.Errorf("sync error = %q", got)
	}
	form := byTestID(d.Selection, "refresh-form")
	if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/refresh" {
		t.Errorf("refresh form: method %q action %q, want a POST to /refresh", form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	if byTestID(form, "refresh-button").Length() != 1 {
		t.Error("no refresh button")
	}
}

func TestOverviewBannerAllUp(t *testing.T) {
	p := overviewFixture()
	p.Problems = nil
	d, _ := render(t, Overview(p))
	if got := text(byTestID(d.Selection, "alerts-banner")); got != "All checks are up." {
		t.Errorf("banner = %q", got)
	}
}

func TestOverviewSortLinks(t *testing.T) {
	tests := []struct {
		name string
		sort view.SortKey
	}{
		{"state", view.SortState},
		{"name", view.SortName},
		{"revenue", view.SortRevenue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := overviewFixture()
			p.Sort = tt.sort
			d, _ := render(t, Overview(p))
			for _, k := range view.SortKeys {
				a := byTestID(d.Selection, "sort-"+string(k))
				if href := a.AttrOr("href", ""); href != "/?sort="+string(k) {
					t.Errorf("sort %s href = %q", k, href)
				}
				_, current := a.Attr("aria-current")
				if current != (k == tt.sort) {
					t.Errorf("sort %s: aria-current = %v, want %v", k, current, k == tt.sort)
				}
			}
		})
	}
}

func TestOverviewEmpty(t *testing.T) {
	d, _ := render(t, Overview(view.OverviewPage{Now: now, Sort: view.SortState}))
	if byTestID(d.Selection, "no-branches").Length() != 1 {
		t.Error("no empty-state message")
	}
	if got := text(byTestID(d.Selection, "last-synced")); got != "Last synced: not yet" {
		t.Errorf("last synced = %q", got)
	}
}

// Branch names and ids come from the bucket: they must show as text and
// never as markup, anywhere they appear.
func TestOverviewEscapesUntrustedText(t *testing.T) {
	hostile := []string{
		`<script>alert("x")</script>`,
		`<img src=x onerror=alert(1)>`,
		`"><svg onload=alert(1)>`,
	}
	for _, name := range hostile {
		t.Run(name, func(t *testing.T) {
			p := overviewFixture()
			p.Branches[0].Name = name
			p.Branches[0].ID = name
			p.Problems[0].BranchName = name
			d, html := render(t, Overview(p))
			if d.Find("main script, img, main svg:not(.spark)").Length() != 0 {
				t.Errorf("a branch name became markup:\n%s", html)
			}
			if d.Find("[onerror], [onload]").Length() != 0 {
				t.Errorf("an event handler attribute appeared")
			}
			if got := text(byTestID(d.Selection, "branch-name").First()); got != name {
				t.Errorf("name shows as %q, want the text %q", got, name)
			}
			href := byTestID(d.Selection, "branch-name").First().AttrOr("href", "")
			if strings.ContainsAny(href, `<>" `) {
				t.Errorf("branch link %q is not path-escaped", href)
			}
		})
	}
}
