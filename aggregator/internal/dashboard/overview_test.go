package dashboard_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

func TestOverview(t *testing.T) {
	e, b, _ := s3Env(t)
	d := e.page(t, "/", http.StatusOK)
	if n := byTestID(d.Selection, "branch-row").Length(); n != 4 {
		t.Fatalf("%d branch rows, want 4 (3 in the bucket, 1 expected)", n)
	}
	h := b.latest(healthy)
	tests := []struct {
		name, branch, testid, want string
	}{
		{"net revenue", healthy, "net-revenue", format.Money(h.NetRevenue)},
		{"bills", healthy, "bills", format.Count(h.TotalBills)},
		{"net profit", healthy, "net-profit", format.Money(h.NetProfit)},
		{"latest day", healthy, "latest-date", lastDay},
		{"backup size", healthy, "last-backup-size", format.Bytes(dumpBytes + 9)},
		{"backup age", healthy, "last-backup-age", "13 hours 59 minutes ago"}, // 2026-02-16 22:00:05 to 2026-02-17 12:00 IST
		{"a stale branch is missing for the headline date", stale, "net-revenue", "— missing"},
		{"its last day is shown as such", stale, "latest-date", staleDay},
		{"stale latest day", stale, "latest-date", staleDay},
		{"bad documents counted", withBad, "bad-docs", "1"},
		{"never seen has no figures", neverSeen, "net-revenue", "— missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := text(byTestID(row(d, tt.branch), tt.testid)); got != tt.want {
				t.Errorf("%s %s = %q, want %q", tt.branch, tt.testid, got, tt.want)
			}
		})
	}
	states := []struct {
		branch, metrics, backup string
	}{
		{healthy, "up", "up"}, {withBad, "up", "up"}, {stale, "down", "down"}, {neverSeen, "never", "never"},
	}
	for _, st := range states {
		t.Run("states of "+st.branch, func(t *testing.T) {
			r := row(d, st.branch)
			for id, want := range map[string]string{"metrics-state": st.metrics, "backup-state": st.backup} {
				badge := byTestID(r, id).Find(".state")
				if got := badge.AttrOr("data-state", ""); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
				if badge.Text() == "" {
					t.Errorf("%s has no words", id)
				}
			}
		})
	}
	// Totals: the headline date's figures of the branches that reported
	// it; the stale branch's last day is never summed in.
	var rev, bills int64
	for _, id := range []string{healthy, withBad} {
		if b.latest(id).SummaryDate != lastDay {
			t.Fatalf("fixture: %s's last day is %s", id, b.latest(id).SummaryDate)
		}
		rev += b.latest(id).NetRevenue
		bills += b.latest(id).TotalBills
	}
	tot := byTestID(d.Selection, "totals")
	if got := text(byTestID(tot, "total-net-revenue")); got != format.Money(rev) {
		t.Errorf("total net revenue %q, want %q", got, format.Money(rev))
	}
	if got := text(byTestID(tot, "total-bills")); got != format.Count(bills) {
		t.Errorf("total bills %q, want %q", got, format.Count(bills))
	}
	wantHead := format.Day(businessDay(lastDay)) + ": " + format.Money(rev) + " net revenue, 2 of 4 branches reported"
	if got := text(byTestID(d.Selection, "headline-text")); got != wantHead {
		t.Errorf("headline = %q, want %q", got, wantHead)
	}
	if got := text(byTestID(d.Selection, "headline-missing")); !strings.Contains(got, b.latest(stale).BranchName) || !strings.Contains(got, neverSeen) {
		t.Errorf("missing = %q, want the stale and the never-seen branch", got)
	}
	// The banner: the stale branch's two checks and the silent one's two.
	if got := byTestID(d.Selection, "alerts-banner").AttrOr("data-problems", ""); got != "4" {
		t.Errorf("banner problems = %q, want 4", got)
	}
	// Sorted by state by default: worst first.
	if first := byTestID(d.Selection, "branch-row").First().AttrOr("data-branch-id", ""); first != stale {
		t.Errorf("first row %q, want the down branch", first)
	}
	if got := text(byTestID(d.Selection, "last-synced")); !strings.HasPrefix(got, "Last synced:") || strings.Contains(got, "not yet") {
		t.Errorf("last synced = %q", got)
	}
}

func TestOverviewSort(t *testing.T) {
	e, b, _ := s3Env(t)
	tests := []struct {
		sort  string
		first string
	}{
		{"name", neverSeen}, // it shows its id, "branch-dadar"; the others are "Salon Branch-…"
		{"state", stale},
		{"revenue", ""},
	}
	best, bestRev := "", int64(-1<<62)
	for _, id := range []string{healthy, withBad} {
		if r := b.latest(id).NetRevenue; r > bestRev {
			best, bestRev = id, r
		}
	}
	tests[2].first = best
	for _, tt := range tests {
		t.Run(tt.sort, func(t *testing.T) {
			d := e.page(t, "/?sort="+tt.sort, http.StatusOK)
			if got := byTestID(d.Selection, "branch-row").First().AttrOr("data-branch-id", ""); got != tt.first {
				t.Errorf("first row %q, want %q", got, tt.first)
			}
			if _, ok := byTestID(d.Selection, "sort-"+tt.sort).Attr("aria-current"); !ok {
				t.Errorf("sort link %s not marked current", tt.sort)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	e, _, st := s3Env(t)
	before := e.page(t, "/", http.StatusOK) // also fills the overview cache
	if got := text(byTestID(row(before, stale), "latest-date")); got != staleDay {
		t.Fatalf("stale latest day %q", got)
	}
	// The branch page is cached too (per sync and minute).
	branchPath := "/branches/" + stale + "?days=30"
	lastDayRow := `[data-testid="day-row"][data-date="` + lastDay + `"]`
	if n := e.page(t, branchPath, http.StatusOK).Find(lastDayRow).Length(); n != 0 {
		t.Fatalf("the stale branch's page has a row of %s before it pushed one", lastDay)
	}
	// The stale branch catches up; the dashboard shows it after a refresh.
	fixture.PutDoc(t, st, fixture.Doc(stale, lastDay, 1))

	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"cross-site form refused", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin refused", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, http.MethodPost, "/refresh", basic, nil, tt.header)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusSeeOther && resp.Header.Get("Location") != "/" {
				t.Errorf("redirect to %q", resp.Header.Get("Location"))
			}
		})
	}
	after := e.page(t, "/", http.StatusOK)
	if got := text(byTestID(row(after, stale), "latest-date")); got != lastDay {
		t.Errorf("after refresh, stale latest day %q, want %q", got, lastDay)
	}
	if got := byTestID(row(after, stale), "metrics-state").Find(".state").AttrOr("data-state", ""); got != "up" {
		t.Errorf("after refresh, metrics state %q, want up", got)
	}
	if n := e.page(t, branchPath, http.StatusOK).Find(lastDayRow).Length(); n != 1 {
		t.Errorf("after refresh, the stale branch's page has %d rows of %s, want 1", n, lastDay)
	}
}

func TestSyncErrorShown(t *testing.T) {
	var fail atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if fail.Load() {
				http.Error(w, "injected", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	st := srv.Store(t)
	seed(t, st)
	e := newEnv(t, st, nil)
	fail.Store(true)
	if err := e.App.Service.Refresh(context.Background()); err == nil {
		t.Fatal("a sync against a failing server succeeded")
	}
	d := e.page(t, "/", http.StatusOK)
	if byTestID(d.Selection, "sync-error").Length() != 1 {
		t.Error("the failed sync is not shown")
	}
	// The last good index is still served.
	if n := byTestID(d.Selection, "branch-row").Length(); n != 4 {
		t.Errorf("%d rows after a failed sync, want 4", n)
	}
}

// TestPagesGzip: the cached pages (the overview and a branch page) are
// gzipped for a client that takes gzip, and the same page either way.
func TestPagesGzip(t *testing.T) {
	e, _, _ := s3Env(t)
	for _, path := range []string{"/", "/branches/" + healthy + "?days=90"} {
		t.Run(path, func(t *testing.T) { testGzip(t, e, path) })
	}
}

func testGzip(t *testing.T, e *env, path string) {
	plain := e.do(t, http.MethodGet, path, basic, nil, nil)
	want, _ := io.ReadAll(plain.Body)
	plain.Body.Close()
	if len(want) == 0 {
		t.Fatalf("GET %s: empty page", path)
	}
	tests := []struct {
		name, accept string
		gzipped      bool
	}{
		{"no header", "", false},
		{"gzip", "gzip", true},
		{"browser list", "gzip, deflate, br, zstd", true},
		{"refused", "gzip;q=0, br", false},
		{"other only", "br", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, http.MethodGet, path, basic, nil, map[string]string{"Accept-Encoding": tt.accept})
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.gzipped {
				t.Fatalf("gzipped = %v, want %v", got, tt.gzipped)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
				t.Error("no Vary: Accept-Encoding")
			}
			var body io.Reader = resp.Body
			if tt.gzipped {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			got, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Error("the page differs from the plain one")
			}
		})
	}
}

func businessDay(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}
