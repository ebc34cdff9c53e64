package dashboard_test

import (
	"bytes"
	"encoding/csv"
	"github.com/branchwatch/branchwatch/aggregator/internal/csvexport"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

// TestCompareSelection: ?branch= (repeated) picks the compared branches;
// rows, rank, totals and the CSV link follow the selection.
func TestCompareSelection(t *testing.T) {
	e, b, _ := s3Env(t)
	// Sums over ?days=7 (2026-02-11..17; documents end on the 16th).
	sum7 := func(id string) (net int64, days int) {
		for _, doc := range b.docs[id] {
			if doc.SummaryDate >= "2026-02-11" {
				net += doc.NetRevenue
				days++
			}
		}
		return net, days
	}
	all := []string{healthy, withBad, stale, neverSeen}
	tests := []struct {
		name, query string
		rows        []string // the compared branches
		checked     []string // the ticked boxes
		csvBranches []string // the CSV link's branch= values
		ignored     string   // the ignored banner's text, "" for none
	}{
		{"none picked: all", "?days=7", all, nil, nil, ""},
		{"two of four", "?days=7&branch=" + withBad + "&branch=" + healthy, []string{healthy, withBad}, []string{healthy, withBad}, []string{healthy, withBad}, ""},
		{"duplicates count once", "?days=7&branch=" + stale + "&branch=" + stale, []string{stale}, []string{stale}, []string{stale}, ""},
		{"unknown ids are left out", "?days=7&branch=branch-zzz&branch=" + healthy + "&branch=%3Cb%3E", []string{healthy}, []string{healthy}, []string{healthy}, "2 requested branches were not found and left out."},
		{"only unknown: all", "?days=7&branch=branch-zzz", all, nil, nil, "1 requested branch was not found and left out."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.page(t, "/compare"+tt.query, http.StatusOK)
			var rows []string
			byTestID(d.Selection, "compare-row").Each(func(_ int, s *goquery.Selection) { rows = append(rows, s.AttrOr("data-branch-id", "")) })
			if !sameSet(rows, tt.rows) {
				t.Errorf("rows %v, want %v", rows, tt.rows)
			}
			var boxes, checked []string
			byTestID(d.Selection, "branch-checkbox").Each(func(_ int, s *goquery.Selection) {
				if s.AttrOr("name", "") != "branch" || s.AttrOr("type", "") != "checkbox" || s.Closest("form").Length() != 1 {
					t.Errorf("checkbox %v is not a branch= checkbox of the form", s.AttrOr("value", ""))
				}
				boxes = append(boxes, s.AttrOr("value", ""))
				if _, ok := s.Attr("checked"); ok {
					checked = append(checked, s.AttrOr("value", ""))
				}
			})
			if !sameSet(boxes, all) {
				t.Errorf("checkboxes %v, want one per branch %v", boxes, all)
			}
			if !sameSet(checked, tt.checked) {
				t.Errorf("checked %v, want %v", checked, tt.checked)
			}
			// The range form and the picker are one GET form: both survive a submit.
			if f := byTestID(d.Selection, "range-form"); f.AttrOr("method", "") != "get" || byTestID(f, "branch-picker").Length() != 1 {
				t.Error("the branch picker is not inside the range's GET form")
			}
			link, err := url.Parse(byTestID(d.Selection, "csv-link").AttrOr("href", ""))
			if err != nil {
				t.Fatal(err)
			}
			if q := link.Query(); link.Path != "/export.csv" || !sameSet(q["branch"], tt.csvBranches) || q.Get("from") != "2026-02-11" || q.Get("to") != "2026-02-17" {
				t.Errorf("csv link %s, want branches %v of 2026-02-11..17", link, tt.csvBranches)
			}
			if got := text(byTestID(d.Selection, "branch-ignored")); got != tt.ignored {
				t.Errorf("ignored banner %q, want %q", got, tt.ignored)
			}
			// Totals are over the compared rows only.
			var net int64
			var days int
			for _, id := range tt.rows {
				n, dd := sum7(id)
				net, days = net+n, days+dd
			}
			total := byTestID(d.Selection, "compare-total")
			if got := text(byTestID(total, "net-revenue")); got != format.Money(net) {
				t.Errorf("total net revenue %q, want %q", got, format.Money(net))
			}
			if got, want := text(byTestID(total, "days")), itoa(days)+" / "+itoa(7*len(tt.rows)); got != want {
				t.Errorf("total days %q, want %q", got, want)
			}
		})
	}

	// Two of four: ranked among themselves, bandra (the larger revenue) first.
	d := e.page(t, "/compare?days=7&branch="+healthy+"&branch="+withBad, http.StatusOK)
	hNet, _ := sum7(healthy)
	bNet, _ := sum7(withBad)
	if bNet <= hNet {
		t.Fatalf("fixture: %s should out-earn %s", withBad, healthy)
	}
	for id, want := range map[string]string{withBad: "1", healthy: "2"} {
		r := d.Find(`[data-testid="compare-row"][data-branch-id="` + id + `"]`)
		if got := text(byTestID(r, "rank")); got != want {
			t.Errorf("%s rank %q, want %q", id, got, want)
		}
	}
	if got := text(byTestID(byTestID(d.Selection, "compare-total"), "net-revenue")); got != format.Money(hNet+bNet) {
		t.Errorf("total %q, want %q", got, format.Money(hNet+bNet))
	}
	if got := text(byTestID(d.Selection, "compare-total").Find("th")); got != "Selected branches" {
		t.Errorf("total row labelled %q", got)
	}
	// Its CSV link exports the same two branches: 6 days each.
	link := byTestID(d.Selection, "csv-link").AttrOr("href", "")
	resp, recs := getCSV(t, e, link)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CSV %s: status %d", link, resp.StatusCode)
	}
	if got := csvBranchRows(t, recs); got[healthy] != 6 || got[withBad] != 6 || len(got) != 2 {
		t.Errorf("CSV rows by branch %v, want 6 each of %s and %s", got, healthy, withBad)
	}
}

// TestExportCSVBranches: /export.csv takes branch= repeated; one keeps the
// single-branch export, an invalid or unknown id among several fails as it
// does alone.
func TestExportCSVBranches(t *testing.T) {
	e, _, _ := s3Env(t)
	const rng = "/export.csv?from=2026-02-12&to=2026-02-16"
	tests := []struct {
		name, query string
		status      int
		rows        map[string]int // by branch
		file        string
	}{
		{"every branch", "", http.StatusOK, map[string]int{healthy: 5, withBad: 5}, "branchwatch-metrics_2026-02-12_2026-02-16.csv"},
		{"one branch, as before", "&branch=" + withBad, http.StatusOK, map[string]int{withBad: 5}, "branchwatch-metrics_2026-02-12_2026-02-16_" + withBad + ".csv"},
		{"two branches", "&branch=" + withBad + "&branch=" + healthy, http.StatusOK, map[string]int{healthy: 5, withBad: 5}, "branchwatch-metrics_2026-02-12_2026-02-16_" + healthy + "_" + withBad + ".csv"},
		{"two branches, one without documents", "&branch=" + healthy + "&branch=" + stale, http.StatusOK, map[string]int{healthy: 5}, "branchwatch-metrics_2026-02-12_2026-02-16_" + healthy + "_" + stale + ".csv"},
		{"four branches: named by count", "&branch=" + healthy + "&branch=" + withBad + "&branch=" + stale + "&branch=" + neverSeen, http.StatusOK, map[string]int{healthy: 5, withBad: 5}, "branchwatch-metrics_2026-02-12_2026-02-16_4-branches.csv"},
		{"the same branch twice", "&branch=" + healthy + "&branch=" + healthy, http.StatusOK, map[string]int{healthy: 5}, "branchwatch-metrics_2026-02-12_2026-02-16_" + healthy + ".csv"},
		{"one unknown alone", "&branch=branch-zzz", http.StatusNotFound, nil, ""},
		{"one invalid alone", "&branch=..%2F" + healthy, http.StatusBadRequest, nil, ""},
		{"unknown among several", "&branch=" + healthy + "&branch=branch-zzz", http.StatusNotFound, nil, ""},
		{"invalid among several", "&branch=" + healthy + "&branch=..%2F" + withBad, http.StatusBadRequest, nil, ""},
		{"invalid after unknown", "&branch=branch-zzz&branch=Branch-Andheri", http.StatusBadRequest, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, recs := getCSV(t, e, rng+tt.query)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+tt.file+`"` {
				t.Errorf("Content-Disposition %q, want file %q", cd, tt.file)
			}
			got := csvBranchRows(t, recs)
			if len(got) != len(tt.rows) {
				t.Errorf("rows by branch %v, want %v", got, tt.rows)
			}
			for id, n := range tt.rows {
				if got[id] != n {
					t.Errorf("rows by branch %v, want %v", got, tt.rows)
				}
			}
		})
	}
}

// TestAlertsSinceInBranchZone: a problem's since is shown in its branch's
// zone, not the aggregator's (Asia/Kolkata by default).
func TestAlertsSinceInBranchZone(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	gulf := time.FixedZone("+04:00", 4*3600)
	for _, br := range []struct {
		id  string
		loc *time.Location
	}{{"branch-dubai", gulf}, {"branch-pune", fixture.IST}} {
		for n := range 3 {
			date := fixture.Date(staleDay, n-2)
			doc := fixture.Doc(br.id, date, int64(n))
			day, _ := time.Parse("2006-01-02", date)
			doc.GeneratedAt = metrics.FormatGeneratedAt(time.Date(day.Year(), day.Month(), day.Day(), 21, 45, 0, 0, br.loc))
			fixture.PutDoc(t, st, doc)
		}
	}
	e := newEnv(t, st, map[string]string{"EXPECTED_BRANCHES": ""})
	d := e.page(t, "/alerts", http.StatusOK)
	tests := []struct {
		name, branch, offset string
	}{
		{"branch in +04:00", "branch-dubai", "+04:00"},
		{"branch in the aggregator's zone", "branch-pune", "+05:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := d.Find(`[data-testid="problem"][data-branch-id="` + tt.branch + `"][data-check="metrics"]`)
			if pr.Length() != 1 {
				t.Fatalf("%d metrics problems of %s", pr.Length(), tt.branch)
			}
			tm := pr.Find("time")
			if got := text(tm); !strings.HasSuffix(got, " "+tt.offset) {
				t.Errorf("since shown as %q, want it in %s", got, tt.offset)
			}
			if dt := tm.AttrOr("datetime", ""); !strings.HasSuffix(dt, tt.offset) {
				t.Errorf("since datetime %q, want offset %s", dt, tt.offset)
			}
		})
	}
}

// getCSV GETs target with basic auth and parses a 200's body as CSV,
// checking its header is the metrics-v1 field names.
func getCSV(t *testing.T, e *env, target string) (*http.Response, [][]string) {
	t.Helper()
	resp := e.do(t, http.MethodGet, target, basic, nil, nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	// The pages link to the file for people (a byte order mark, headings
	// in words); scripts get the field names.
	people := bytes.HasPrefix(body, []byte("\uFEFF"))
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := metrics.FieldNames
	if people {
		want = nil
		for _, n := range metrics.FieldNames {
			want = append(want, csvexport.Labels[n])
		}
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Fatalf("CSV header %v, want %v", recs[0], want)
	}
	if people {
		recs[0] = metrics.FieldNames
	}
	return resp, recs
}

// csvBranchRows counts a CSV's rows by branch_id.
func csvBranchRows(t *testing.T, recs [][]string) map[string]int {
	t.Helper()
	col := slices.Index(recs[0], "branch_id")
	if col < 0 {
		t.Fatal("no branch_id column")
	}
	out := map[string]int{}
	for _, r := range recs[1:] {
		out[r[col]]++
	}
	return out
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func itoa(n int) string { return strconv.Itoa(n) }
