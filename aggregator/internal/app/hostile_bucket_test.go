package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

// getJSON GETs path with the token and decodes the answer into v.
func getJSON(t *testing.T, a *secApp, path string, v any) {
	t.Helper()
	resp, body := do(t, http.MethodGet, a.URL+path, bearer, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %.300s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// promValue reads an unlabelled sample of the /metrics page.
func promValue(t *testing.T, a *secApp, name string) string {
	t.Helper()
	_, body := do(t, http.MethodGet, a.URL+"/metrics", bearer, nil)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	return m[1]
}

// putRaw puts an empty object straight into the S3 server's backend.
func putRaw(t *testing.T, srv *testenv.S3Server, key string) {
	t.Helper()
	if _, err := srv.Backend.PutObject(srv.Bucket, key, map[string]string{}, bytes.NewReader(nil), 0, nil); err != nil {
		t.Fatal(err)
	}
}

// TestStrayFoldersAreNoBranches reproduces the stray folders: B2's "new
// folder" button leaves archive/.bzEmpty, and 2,000 junk folders made
// 4,014 problems. A prefix is a branch only when it holds a metrics
// document name or a dump, or is expected; the others are counted on
// /metrics and in the API's ignored prefixes, and never alert.
func TestStrayFoldersAreNoBranches(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	secSeed(t, st, map[string]string{"andheri": "Andheri"})
	putRaw(t, srv, "archive/.bzEmpty") // the store refuses such a key: B2's browser does not
	fixture.Put(t, st, "notes/readme.txt", []byte("hello"), nil)
	fixture.Put(t, st, "misc/metrics/notes.txt", []byte("not a document"), nil)
	fixture.Put(t, st, "misc/backups/copy.zip", []byte("not a dump"), nil)
	// A metrics document name with garbage in it: a branch (its bad
	// document must show), even though nothing in it is good.
	fixture.Put(t, st, fixture.MetricsKey("tokyo", "2026-02-16"), []byte("{garbage"), nil)
	const junk = 2000
	for i := range junk {
		putRaw(t, srv, fmt.Sprintf("junk-%04d/.bzEmpty", i))
	}
	a := startSecApp(t, srv, map[string]string{options.EnvExpected: "andheri,newbranch"})

	var br struct {
		Branches []service.BranchStatus `json:"branches"`
		Ignored  []string               `json:"ignored_prefixes"`
	}
	getJSON(t, a, "/api/v1/branches", &br)
	var ids []string
	for _, b := range br.Branches {
		ids = append(ids, b.ID)
	}
	if want := []string{"andheri", "newbranch", "tokyo"}; !slices.Equal(ids, want) {
		t.Errorf("%d branches %.300s, want %v", len(ids), fmt.Sprint(ids), want)
	}
	for _, p := range []string{"archive/", "notes/", "misc/", "junk-0000/", "junk-1999/"} {
		if !slices.Contains(br.Ignored, p) {
			t.Errorf("ignored prefixes lack %s", p)
		}
	}
	if got, want := len(br.Ignored), junk+3; got != want {
		t.Errorf("%d ignored prefixes, want %d", got, want)
	}
	if got := promValue(t, a, "branchwatch_ignored_prefixes"); got != fmt.Sprint(junk+3) {
		t.Errorf("branchwatch_ignored_prefixes %s, want %d", got, junk+3)
	}

	var al struct {
		Current []struct {
			Branch string `json:"branch_id"`
			Check  string `json:"check"`
		} `json:"current"`
		History []struct {
			Branch string `json:"branch_id"`
		} `json:"history"`
	}
	getJSON(t, a, "/api/v1/alerts", &al)
	// The expected branch without anything and tokyo (nothing good) are
	// never seen, both checks: four problems, none of a stray folder.
	if len(al.Current) != 4 {
		t.Errorf("%d current problems, want 4: %.300s", len(al.Current), fmt.Sprintf("%+v", al.Current))
	}
	for _, p := range al.Current {
		if p.Branch != "newbranch" && p.Branch != "tokyo" {
			t.Errorf("a problem of %s", p.Branch)
			break
		}
	}
	if len(al.History) == 0 {
		t.Error("no alert at all: the check proves nothing")
	}
	for _, r := range al.History {
		if r.Branch != "newbranch" && r.Branch != "tokyo" {
			t.Errorf("an alert of %s", r.Branch)
			break
		}
	}
	_, page := do(t, http.MethodGet, a.URL+"/", basic, nil)
	if strings.Contains(page, "archive") || strings.Contains(page, "junk-") {
		t.Error("the overview shows a stray folder")
	}
	if resp, _ := do(t, http.MethodGet, a.URL+"/branches/archive", basic, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/branches/archive: status %d, want 404", resp.StatusCode)
	}

	// A folder that later gets a dump becomes a branch at the next full sync.
	fixture.PutBackup(t, st, "archive", now.Add(-2*60*60*1e9), 100)
	if err := a.App.Service.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	getJSON(t, a, "/api/v1/branches", &br)
	if !slices.ContainsFunc(br.Branches, func(b service.BranchStatus) bool { return b.ID == "archive" }) || slices.Contains(br.Ignored, "archive/") {
		t.Errorf("archive holds a dump but is not a branch: ignored %d prefixes", len(br.Ignored))
	}
}

// TestNonINRDocumentsAreBad reproduces the currency finding: a valid
// document with "currency":"USD" showed as ₹ and was added into the
// rupee totals. It is now a bad document with the reason "currency USD:
// only INR is supported", in no total, page, API answer or CSV row.
func TestNonINRDocumentsAreBad(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	secSeed(t, st, map[string]string{"andheri": "Andheri", "bandra": "Bandra"})
	usd := fixture.Doc("bandra", "2026-02-17", 99) // newer than bandra's INR days
	usd.Currency = "USD"
	usd.GrossRevenue, usd.NetRevenue, usd.GrossProfit, usd.NetProfit = 0, 0, 0, 0
	usd.GrossRevenue = 777_777_700
	usd.Derive()
	key := fixture.PutDoc(t, st, usd)
	a := startSecApp(t, srv, nil)

	var bad struct {
		Bad []service.BadDocument `json:"bad_documents"`
	}
	getJSON(t, a, "/api/v1/bad-documents", &bad)
	if len(bad.Bad) != 1 || bad.Bad[0].Key != key || bad.Bad[0].Reason != "currency USD: only INR is supported" {
		t.Fatalf("bad documents %+v, want %s refused for its currency", bad.Bad, key)
	}
	var docs struct {
		Documents []struct {
			Branch   string `json:"branch_id"`
			Date     string `json:"summary_date"`
			Currency string `json:"currency"`
		} `json:"documents"`
	}
	getJSON(t, a, "/api/v1/metrics?from=2026-02-01&to=2026-02-28", &docs)
	if len(docs.Documents) != 10 {
		t.Errorf("%d documents, want the 10 INR ones", len(docs.Documents))
	}
	for _, d := range docs.Documents {
		if d.Currency != "INR" {
			t.Errorf("the API serves %s %s in %s", d.Branch, d.Date, d.Currency)
		}
	}
	var bs struct {
		Branches []service.BranchStatus `json:"branches"`
	}
	getJSON(t, a, "/api/v1/branches", &bs)
	for _, b := range bs.Branches {
		if b.ID == "bandra" && (b.LastMetricsDate != "2026-02-16" || b.BadDocuments != 1) {
			t.Errorf("bandra: latest %s with %d bad documents, want 2026-02-16 (the USD day is bad) and 1", b.LastMetricsDate, b.BadDocuments)
		}
	}
	// The figure of the USD day appears nowhere, and the overview's total
	// is the two INR latest days'.
	shown := strings.TrimPrefix(format.Money(usd.NetRevenue), "₹")
	for _, p := range []string{"/", "/compare?from=2026-02-12&to=2026-02-17", "/branches/bandra?from=2026-02-12&to=2026-02-17",
		"/export.csv?from=2026-02-12&to=2026-02-17"} {
		_, body := do(t, http.MethodGet, a.URL+p, basic, nil)
		if strings.Contains(body, shown) || strings.Contains(body, "777777700") || strings.Contains(body, "USD,") {
			t.Errorf("%s shows the USD document's figures", p)
		}
	}
	_, overview := do(t, http.MethodGet, a.URL+"/", basic, nil)
	ov, err := goquery.NewDocumentFromReader(strings.NewReader(overview))
	if err != nil {
		t.Fatal(err)
	}
	want := format.Money(2 * fixture.Doc("andheri", "2026-02-16", 4).NetRevenue)
	if got := strings.TrimSpace(ov.Find(`[data-testid="total-net-revenue"]`).Text()); got != want {
		t.Errorf("overview total %q, want %q (the INR days only)", got, want)
	}
	_, page := do(t, http.MethodGet, a.URL+"/branches/bandra", basic, nil)
	if !strings.Contains(page, "currency USD: only INR is supported") {
		t.Error("bandra's page does not give the USD document's reason")
	}
}

// TestOverflowingSumsAreUnavailable reproduces the overflow: valid
// documents with net_revenue 5e18 gave a negative total on the overview
// and compare pages. Each sum that overflows int64 is now shown as
// unavailable with the reason, never as a wrapped figure; the sums that
// fit stay exact. (The API and the CSV serve documents, not totals.)
func TestOverflowingSumsAreUnavailable(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	secSeed(t, st, map[string]string{"andheri": "Andheri"})
	huge := func(branch, date string) {
		d := fixture.Doc(branch, date, 1)
		d.GrossRevenue = 5e18 + d.DiscountAmount + d.RefundAmount
		d.Derive()
		if d.NetRevenue != 5e18 {
			t.Fatalf("net revenue %d", d.NetRevenue)
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("the huge document is invalid: %v", err)
		}
		fixture.PutDoc(t, st, d)
	}
	huge("big1", "2026-02-15")
	huge("big1", "2026-02-16")
	huge("big2", "2026-02-16")
	a := startSecApp(t, srv, nil)

	page := func(path string) *goquery.Document {
		t.Helper()
		resp, body := do(t, http.MethodGet, a.URL+path, basic, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	cell := func(s *goquery.Selection, testid string) string {
		return strings.TrimSpace(s.Find(`[data-testid="` + testid + `"]`).First().Text())
	}
	shown := format.Money(5e18) // one document's figure

	ov := page("/")
	tot := ov.Find(`[data-testid="totals"]`)
	if got := cell(tot, "total-net-revenue"); got != "unavailable" {
		t.Errorf("overview total net revenue %q, want unavailable", got)
	}
	if got := cell(tot, "overflow-note"); got != view.OverflowReason {
		t.Errorf("overview totals say %q, want the reason", got)
	}
	if got := cell(tot, "total-bills"); got == "unavailable" || strings.HasPrefix(got, "−") || got == "" {
		t.Errorf("overview total bills %q: the sum fits and must show", got)
	}
	if got := cell(ov.Find(`[data-testid="branch-row"][data-branch-id="big2"]`), "net-revenue"); got != shown {
		t.Errorf("big2's own figure %q, want %s", got, shown)
	}

	cmp := page("/compare?from=2026-02-12&to=2026-02-16")
	big1 := cmp.Find(`[data-testid="compare-row"][data-branch-id="big1"]`)
	if got := cell(big1, "net-revenue"); got != "unavailable" {
		t.Errorf("big1's two-day sum %q, want unavailable", got)
	}
	if got := cell(big1, "avg-net-revenue"); got != "unavailable" {
		t.Errorf("big1's average %q, want unavailable", got)
	}
	if got := cell(big1, "rank"); got != "—" {
		t.Errorf("big1 ranked %q, want —", got)
	}
	if got := cell(cmp.Find(`[data-testid="compare-row"][data-branch-id="big2"]`), "net-revenue"); got != shown {
		t.Errorf("big2's sum %q, want %s", got, shown)
	}
	if got := cell(cmp.Find(`[data-testid="compare-row"][data-branch-id="andheri"]`), "rank"); got != "2" {
		t.Errorf("andheri ranked %q, want 2 (after big2)", got)
	}
	ct := cmp.Find(`[data-testid="compare-total"]`)
	if got := cell(ct, "net-revenue"); got != "unavailable" || cell(ct, "overflow-note") != view.OverflowReason {
		t.Errorf("compare total %q with note %q", got, cell(ct, "overflow-note"))
	}

	br := page("/branches/big1?from=2026-02-15&to=2026-02-16")
	dt := br.Find(`[data-testid="day-totals"]`)
	if got := cell(dt, "net_revenue"); got != "unavailable" {
		t.Errorf("big1's range total of net revenue %q, want unavailable", got)
	}
	if got := cell(dt, "total_bills"); got == "unavailable" || got == "" {
		t.Errorf("big1's range total of bills %q: the sum fits", got)
	}
	if cell(dt, "overflow-note") != view.OverflowReason {
		t.Error("big1's totals row does not say why")
	}
	for _, d := range []*goquery.Document{ov, cmp, br} {
		d.Find(`[data-testid="totals"] .money, [data-testid="compare-total"] .money, [data-testid="day-totals"] .money`).Each(func(_ int, s *goquery.Selection) {
			if strings.Contains(s.Text(), "−") {
				t.Errorf("a negative total %q: a wrapped sum", s.Text())
			}
		})
	}
	// The export carries the documents themselves, exact.
	_, csvBody := do(t, http.MethodGet, a.URL+"/export.csv?from=2026-02-15&to=2026-02-16&branch=big1", basic, nil)
	if strings.Count(csvBody, ",5000000000000000000,") < 2 {
		t.Errorf("the export lacks the exact figures: %.300s", csvBody)
	}
}
