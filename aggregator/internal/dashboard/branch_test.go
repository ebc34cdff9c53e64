package dashboard_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

func TestBranchPage(t *testing.T) {
	e, b, _ := s3Env(t)
	tests := []struct {
		name     string
		query    string
		wantDays int
		rangeErr bool
	}{
		{"default 30 days", "", 29, false}, // 2026-01-19..02-17; documents end on the 16th
		{"7 days", "?days=7", 6, false},
		{"90 days: every document", "?days=90", days, false},
		{"custom", "?days=custom&from=2026-02-01&to=2026-02-05", 5, false},
		{"bad range falls back", "?from=2026-02-10&to=2026-02-01", 29, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.page(t, "/branches/"+healthy+tt.query, http.StatusOK)
			if n := byTestID(d.Selection, "day-row").Length(); n != tt.wantDays {
				t.Errorf("%d day rows, want %d", n, tt.wantDays)
			}
			if got := byTestID(d.Selection, "range-error").Length() == 1; got != tt.rangeErr {
				t.Errorf("range error shown: %v, want %v", got, tt.rangeErr)
			}
			for _, c := range []string{"net-revenue", "bills", "net-profit"} {
				if byTestID(d.Selection, "chart-"+c).Find("svg").Length() != 1 {
					t.Errorf("no %s chart", c)
				}
			}
		})
	}

	d := e.page(t, "/branches/"+healthy+"?days=7", http.StatusOK)
	last := b.latest(healthy)
	day := d.Find(`[data-testid="day-row"][data-date="` + lastDay + `"]`)
	for field, want := range map[string]string{
		"net_revenue": format.Money(last.NetRevenue), "total_bills": format.Count(last.TotalBills),
		"total_tips": format.Money(last.TotalTips), "gross_profit": format.Money(last.GrossProfit),
	} {
		if got := text(byTestID(day, field)); got != want {
			t.Errorf("%s on %s = %q, want %q", field, lastDay, got, want)
		}
	}
	if got, want := byTestID(d.Selection, "backup-row").Length(), 10; got != want {
		t.Errorf("%d backups listed, want %d", got, want)
	}
	if byTestID(d.Selection, "backups-all").Length() != 0 {
		t.Error("a 'show all backups' link with every backup shown")
	}
	first := byTestID(d.Selection, "backup-row").First()
	if got := text(byTestID(first, "backup-taken").Find("time")); got != "2026-02-16 22:00 +05:30" {
		t.Errorf("newest backup taken %q, want it in the branch's zone", got)
	}
	csv := byTestID(d.Selection, "csv-link").AttrOr("href", "")
	if want := "/export.csv?branch=" + healthy + "&from=2026-02-11&headers=labels&to=2026-02-17&units=rupees"; csv != want {
		t.Errorf("csv link %q, want %q", csv, want)
	}
	resp, recs := getCSV(t, e, csv)
	if got, want := resp.Header.Get("Content-Disposition"), `attachment; filename="`+healthy+`_2026-02-11_to_2026-02-17.csv"`; got != want {
		t.Errorf("file name %q, want %q", got, want)
	}
	if col := slices.Index(recs[0], "net_revenue"); len(recs) < 2 || recs[1][col] != rupees(b.docs[healthy][days-6].NetRevenue) {
		t.Errorf("first row's net revenue %q, want rupees with two decimals", recs[1][col])
	}
	if got := text(byTestID(d.Selection, "zone")); got != "UTC+05:30" {
		t.Errorf("zone %q", got)
	}

	d = e.page(t, "/branches/"+withBad, http.StatusOK)
	if got := text(byTestID(d.Selection, "bad-doc-date")); got != "2026-01-01" {
		t.Errorf("bad document date %q", got)
	}
	if byTestID(d.Selection, "bad-doc-reason").Text() == "" {
		t.Error("bad document without a reason")
	}
}

func TestBranchPageNotFound(t *testing.T) {
	e, _, _ := s3Env(t)
	tests := []struct {
		name, path string
	}{
		{"unknown branch", "/branches/branch-zzz"},
		{"upper case", "/branches/Branch-Andheri"},
		{"dot dot", "/branches/.."},
		{"encoded traversal", "/branches/..%2F..%2Fetc%2Fpasswd"},
		{"encoded slash into a real branch", "/branches/" + healthy + "%2F..%2F" + stale},
		{"markup", "/branches/%3Cscript%3E"},
		{"too long", "/branches/" + strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, http.MethodGet, tt.path, basic, nil, nil)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
			body, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(body), "<script>") {
				t.Error("the id came back as markup")
			}
		})
	}
}

func TestBackupDownloadLink(t *testing.T) {
	e, _, _ := s3Env(t)
	d := e.page(t, "/branches/"+healthy, http.StatusOK)
	link := byTestID(d.Selection, "backup-download").First().AttrOr("href", "")
	resp := e.do(t, http.MethodGet, link, basic, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("download link %s: status %d, want a redirect", link, resp.StatusCode)
	}
	// The redirect is a presigned URL of the real S3 server: it downloads
	// the dump without the dashboard's credentials.
	loc := resp.Header.Get("Location")
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	body, _ := io.ReadAll(got.Body)
	if got.StatusCode != http.StatusOK || len(body) != dumpBytes+9 {
		t.Errorf("presigned download: status %d, %d bytes, want 200 and %d", got.StatusCode, len(body), dumpBytes+9)
	}
}

func TestBranchPageBackupsShown(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	const n = dashboard.BackupsShown + 5
	for d := range n {
		day, _ := time.Parse("2006-01-02", fixture.Date(lastDay, d-n+1))
		fixture.PutBackup(t, st, healthy, time.Date(day.Year(), day.Month(), day.Day(), 22, 0, 5, 0, time.UTC), dumpBytes)
	}
	fixture.PutDoc(t, st, fixture.Doc(healthy, lastDay, 1))
	e := newEnv(t, st, nil)
	tests := []struct {
		name    string
		query   string
		rows    int
		allLink bool
	}{
		{"newest only by default", "?days=7", dashboard.BackupsShown, true},
		{"all on request", "?days=7&backups=all", n, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.page(t, "/branches/"+healthy+tt.query, http.StatusOK)
			if got := byTestID(d.Selection, "backup-row").Length(); got != tt.rows {
				t.Errorf("%d backup rows, want %d", got, tt.rows)
			}
			link := byTestID(d.Selection, "backups-all")
			if (link.Length() == 1) != tt.allLink {
				t.Fatalf("show-all link present: %v, want %v", link.Length() == 1, tt.allLink)
			}
			if tt.allLink {
				if href := link.AttrOr("href", ""); href != "/branches/"+healthy+"?backups=all&days=7#backups" {
					t.Errorf("show-all link %q does not keep the range", href)
				}
				if got := byTestID(d.Selection, "backup-row").First().AttrOr("data-name", ""); !strings.Contains(got, "20260216") {
					t.Errorf("first shown backup %q, want the newest", got)
				}
			}
		})
	}
}

// rupees writes paise as the owner's CSV does: 1234.50.
func rupees(p int64) string { return fmt.Sprintf("%d.%02d", p/100, p%100) }
