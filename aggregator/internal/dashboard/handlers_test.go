package dashboard_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/static"
)

func TestPagesNeedCredentials(t *testing.T) {
	e, _, _ := s3Env(t)
	for _, path := range []string{"/", "/?sort=name", "/branches/" + healthy, "/compare", "/alerts", static.Path("app.css")} {
		t.Run(path, func(t *testing.T) {
			tests := []struct {
				name string
				cred cred
				want int
			}{
				{"none", noCred, http.StatusUnauthorized},
				{"wrong password", func(r *http.Request) { r.SetBasicAuth(user, "nope") }, http.StatusUnauthorized},
				{"basic", basic, http.StatusOK},
				{"bearer", bearer, http.StatusOK},
			}
			for _, tt := range tests {
				resp := e.do(t, http.MethodGet, path, tt.cred, nil, nil)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
				}
			}
		})
	}
	resp := e.do(t, http.MethodPost, "/refresh", noCred, nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /refresh without credentials: %d", resp.StatusCode)
	}
}

func TestOverview(t *testing.T) {
	e, b, _ := s3Env(t)
	d := e.page(t, "/", http.StatusOK)
	if n := byTestID(d.Selection, "branch-row").Length(); n != 4 {
		t.Fatalf("%d branch rows, want 4 (3 in the bucket, 1 expected)", n)
	}
	h, s := b.latest(healthy), b.latest(stale)
	tests := []struct {
		name, branch, testid, want string
	}{
		{"net revenue", healthy, "net-revenue", format.Money(h.NetRevenue)},
		{"bills", healthy, "bills", format.Count(h.TotalBills)},
		{"net profit", healthy, "net-profit", format.Money(h.NetProfit)},
		{"latest day", healthy, "latest-date", lastDay},
		{"last metrics date", healthy, "last-metrics", lastDay},
		{"backup size", healthy, "last-backup-size", format.Bytes(dumpBytes + 9)},
		{"backup age", healthy, "last-backup-age", "13 h 59 min ago"}, // 2026-02-16 22:00:05 to 2026-02-17 12:00 IST
		{"stale figures are its last day's", stale, "net-revenue", format.Money(s.NetRevenue)},
		{"stale latest day", stale, "latest-date", staleDay},
		{"bad documents counted", withBad, "bad-docs", "1"},
		{"never seen has no figures", neverSeen, "net-revenue", "—"},
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
	// Totals: the latest final day of each branch that has one.
	var rev, bills int64
	for _, id := range []string{healthy, withBad, stale} {
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
	for _, id := range []string{healthy, withBad, stale} {
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
	if want := "/export.csv?branch=" + healthy + "&from=2026-02-11&to=2026-02-17"; csv != want {
		t.Errorf("csv link %q, want %q", csv, want)
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

func TestCompare(t *testing.T) {
	e, b, _ := s3Env(t)
	d := e.page(t, "/compare?days=7", http.StatusOK)
	rows := byTestID(d.Selection, "compare-row")
	if rows.Length() != 4 {
		t.Fatalf("%d rows, want 4", rows.Length())
	}
	// The stale branch has nothing in the last 7 days: ranked last, with 0 days.
	stRow := d.Find(`[data-testid="compare-row"][data-branch-id="` + stale + `"]`)
	if got := text(byTestID(stRow, "days")); got != "0 / 7" {
		t.Errorf("stale days %q", got)
	}
	var sum int64
	for _, doc := range b.docs[healthy][days-6:] { // 2026-02-11..16
		sum += doc.NetRevenue
	}
	hRow := d.Find(`[data-testid="compare-row"][data-branch-id="` + healthy + `"]`)
	if got := text(byTestID(hRow, "net-revenue")); got != format.Money(sum) {
		t.Errorf("healthy sum %q, want %q", got, format.Money(sum))
	}
	if got := text(byTestID(hRow, "avg-net-revenue")); got != format.Money(sum/6) {
		t.Errorf("healthy average %q, want %q", got, format.Money(sum/6))
	}
	if r := text(byTestID(hRow, "rank")); r != "1" && r != "2" {
		t.Errorf("healthy rank %q, want 1 or 2", r)
	}

	// The CSV link is the same selection: one row per branch and date.
	link := byTestID(d.Selection, "csv-link").AttrOr("href", "")
	resp := e.do(t, http.MethodGet, link, basic, nil, nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CSV %s: status %d", link, resp.StatusCode)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if got, want := len(lines)-1, 12; got != want { // 6 days of two branches
		t.Errorf("CSV has %d rows, want %d", got, want)
	}
	if resp := e.do(t, http.MethodGet, link, noCred, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("CSV without credentials: %d", resp.StatusCode)
	}
}

func TestAlertsPage(t *testing.T) {
	e, _, _ := s3Env(t)
	d := e.page(t, "/alerts", http.StatusOK)
	got := map[string]bool{}
	byTestID(d.Selection, "problem").Each(func(_ int, s *goquery.Selection) {
		got[s.AttrOr("data-branch-id", "")+"/"+s.AttrOr("data-check", "")] = true
	})
	for _, want := range []string{stale + "/metrics", stale + "/backup", neverSeen + "/metrics", neverSeen + "/backup"} {
		if !got[want] {
			t.Errorf("problem %s not listed (got %v)", want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d problems, want 4: %v", len(got), got)
	}
}

func TestRefresh(t *testing.T) {
	e, _, st := s3Env(t)
	before := e.page(t, "/", http.StatusOK) // also fills the overview cache
	if got := text(byTestID(row(before, stale), "latest-date")); got != staleDay {
		t.Fatalf("stale latest day %q", got)
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

func TestUntrustedNamesAreText(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	names := []string{`<script>alert(1)</script>`, `<img src=x onerror=alert(2)>`, `"><svg onload=alert(3)>`}
	for i, name := range names {
		id := "evil-" + strconv.Itoa(i)
		doc := fixture.Doc(id, lastDay, 1)
		doc.BranchName = name
		fixture.PutDoc(t, st, doc)
	}
	e := newEnv(t, st, map[string]string{"EXPECTED_BRANCHES": ""})
	for _, path := range []string{"/", "/compare", "/alerts", "/branches/evil-0", "/branches/evil-1", "/branches/evil-2"} {
		t.Run(path, func(t *testing.T) {
			d := e.page(t, path, http.StatusOK)
			if n := d.Find("main script, main img, [onerror], [onload]").Length(); n != 0 {
				t.Errorf("%d elements made from a branch name", n)
			}
			html, _ := d.Html()
			for _, name := range names {
				if strings.Contains(html, name) {
					t.Errorf("the name %q appears unescaped", name)
				}
			}
		})
	}
	d := e.page(t, "/", http.StatusOK)
	var shown []string
	byTestID(d.Selection, "branch-name").Each(func(_ int, s *goquery.Selection) { shown = append(shown, s.Text()) })
	for _, name := range names {
		if !strings.Contains(strings.Join(shown, "\n"), name) {
			t.Errorf("name %q not shown as text; shown: %q", name, shown)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	e, _, _ := s3Env(t)
	tests := []struct {
		name, path  string
		status      int
		contentType string
		cache       string
	}{
		{"versioned css", static.Path("app.css"), http.StatusOK, "text/css", "immutable"},
		{"versioned js", static.Path("app.js"), http.StatusOK, "javascript", "immutable"},
		{"unversioned css", "/static/app.css", http.StatusOK, "text/css", "no-cache"},
		{"directory", "/static/", http.StatusNotFound, "", ""},
		{"missing", "/static/nope.css", http.StatusNotFound, "", ""},
		{"traversal", "/static/..%2f..%2fgo.mod", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, http.MethodGet, tt.path, basic, nil, nil)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), tt.contentType) {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if !strings.Contains(resp.Header.Get("Cache-Control"), tt.cache) {
				t.Errorf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tt.cache)
			}
		})
	}
}

// Every link on every page leads somewhere that answers.
func TestLinksResolve(t *testing.T) {
	e, _, _ := s3Env(t)
	seen := map[string]bool{}
	for _, start := range []string{"/", "/compare", "/alerts", "/branches/" + healthy} {
		d := e.page(t, start, http.StatusOK)
		d.Find("a[href], link[href], script[src]").Each(func(_ int, s *goquery.Selection) {
			href := s.AttrOr("href", s.AttrOr("src", ""))
			u, err := url.Parse(href)
			if err != nil || u.Host != "" || seen[href] {
				return
			}
			seen[href] = true
			resp := e.do(t, http.MethodGet, href, basic, nil, nil)
			resp.Body.Close()
			if resp.StatusCode >= 400 {
				t.Errorf("%s links to %s: status %d", start, href, resp.StatusCode)
			}
		})
	}
	if len(seen) < 10 {
		t.Errorf("only %d links checked", len(seen))
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

func TestOverviewGzip(t *testing.T) {
	e, _, _ := s3Env(t)
	plain := e.do(t, http.MethodGet, "/", basic, nil, nil)
	want, _ := io.ReadAll(plain.Body)
	plain.Body.Close()
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
			resp := e.do(t, http.MethodGet, "/", basic, nil, map[string]string{"Accept-Encoding": tt.accept})
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
