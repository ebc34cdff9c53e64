package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

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
