package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"

	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

// TestOverviewPagesSearchAndTags: 230 branches, 7 of them stale, and tags
// on the first 30 from EXPECTED_BRANCHES. The overview lists 100 a page
// with the problems first; every page shows the totals of every matching
// branch; a search (text or tag:NAME) narrows rows and totals alike and
// keeps the sort; the tag groups sum each tag's branches.
func TestOverviewPagesSearchAndTags(t *testing.T) {
	const branches, staleEvery = 230, 33 // branches 0, 33, 66, ... 198 are stale
	st := testenv.StartS3(t).Store(t)
	var (
		total      int64
		expected   []string
		searched   int64  // net revenue of the branches matching "branch-001"
		richest    string // of those, the one with the highest net revenue
		richestRev int64
		tagRevenue = map[string]int64{}
		tagCount   = map[string]int{}
		tagProblem = map[string]int{}
	)
	for i := range branches {
		id := fixture.BranchID(i)
		last := lastDay
		if i%staleEvery == 0 {
			last = staleDay
		}
		doc := fixture.Doc(id, last, int64(i))
		fixture.PutDoc(t, st, doc)
		day, _ := time.Parse("2006-01-02", last)
		fixture.PutBackup(t, st, id, time.Date(day.Year(), day.Month(), day.Day(), 22, 0, 5, 0, time.UTC), dumpBytes)
		if last == lastDay {
			total += doc.NetRevenue
		}
		if i >= 10 && i < 20 {
			searched += doc.NetRevenue
			if doc.NetRevenue > richestRev {
				richest, richestRev = id, doc.NetRevenue
			}
		}
		if i < 30 {
			tags := []string{"pune"}
			if i%2 == 0 {
				tags[0] = "mumbai"
			}
			if i%3 == 0 {
				tags = append(tags, "premium")
			}
			expected = append(expected, id+":"+strings.Join(tags, "+"))
			for _, tg := range tags {
				tagCount[tg]++
				if last == lastDay {
					tagRevenue[tg] += doc.NetRevenue
				} else {
					tagProblem[tg]++
				}
			}
		}
	}
	e := newEnv(t, st, map[string]string{options.EnvExpected: strings.Join(expected, ",")})

	first := e.page(t, "/", http.StatusOK)
	rows := byTestID(first.Selection, "branch-row")
	if rows.Length() != 100 {
		t.Fatalf("page 1 has %d rows, want 100", rows.Length())
	}
	for i := range 7 { // problems first
		if id := rows.Eq(i).AttrOr("data-branch-id", ""); id != fixture.BranchID(i*staleEvery) {
			t.Errorf("row %d is %s, want the stale %s", i, id, fixture.BranchID(i*staleEvery))
		}
	}
	if tags := text(byTestID(row(first, fixture.BranchID(0)), "branch-tags")); tags != "mumbai premium" {
		t.Errorf("branch 0's tags read %q", tags)
	}
	wantTotal := format.Money(total)
	cases := []struct {
		target, span, pageOf string
		rows                 int
		totalRevenue         string
		totalBranches        string
	}{
		{"/", "Branches 1–100 of 230", "Page 1 of 3", 100, wantTotal, "223 of 230 branches"},
		{"/?page=2", "Branches 101–200 of 230", "Page 2 of 3", 100, wantTotal, "223 of 230 branches"},
		{"/?page=3&sort=name", "Branches 201–230 of 230", "Page 3 of 3", 30, wantTotal, "223 of 230 branches"},
		{"/?page=99", "Branches 201–230 of 230", "Page 3 of 3", 30, wantTotal, "223 of 230 branches"},
		{"/?page=x", "Branches 1–100 of 230", "Page 1 of 3", 100, wantTotal, "223 of 230 branches"},
		{"/?q=BRANCH-001", "Branches 1–10 of 10", "", 10, format.Money(searched), "10 of 10 branches"},
		{"/?q=" + url.QueryEscape(" salon branch-001 "), "Branches 1–10 of 10", "", 10, format.Money(searched), "10 of 10 branches"},
		{"/?q=tag:mumbai", "Branches 1–15 of 15", "", 15, format.Money(tagRevenue["mumbai"]), fmt.Sprintf("%d of 15 branches", 15-tagProblem["mumbai"])},
		{"/?q=" + url.QueryEscape("tag:mumbai tag:premium"), "Branches 1–5 of 5", "", 5, "", "4 of 5 branches"},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			d := e.page(t, c.target, http.StatusOK)
			if n := byTestID(d.Selection, "branch-row").Length(); n != c.rows {
				t.Errorf("%d rows, want %d", n, c.rows)
			}
			if got := text(byTestID(d.Selection, "page-span")); got != c.span {
				t.Errorf("page span %q, want %q", got, c.span)
			}
			if got := text(byTestID(d.Selection, "page-of")); got != c.pageOf {
				t.Errorf("pager %q, want %q", got, c.pageOf)
			}
			if got := text(byTestID(d.Selection, "total-net-revenue")); c.totalRevenue != "" && got != c.totalRevenue {
				t.Errorf("total net revenue %q, want %q", got, c.totalRevenue)
			}
			if got := text(byTestID(d.Selection, "total-branches")); !strings.HasPrefix(got, c.totalBranches) {
				t.Errorf("total branches %q, want %q…", got, c.totalBranches)
			}
			// The headline is the chain's, whatever the page or search.
			if got := text(byTestID(d.Selection, "headline-text")); !strings.Contains(got, "223 of 230 branches reported") {
				t.Errorf("headline %q", got)
			}
		})
	}

	t.Run("tag groups", func(t *testing.T) {
		groups := byTestID(first.Selection, "group-row")
		if groups.Length() != 3 {
			t.Fatalf("%d tag groups, want 3 (mumbai, premium, pune)", groups.Length())
		}
		for i, tg := range []string{"mumbai", "premium", "pune"} {
			g := groups.Eq(i)
			if got := g.AttrOr("data-tag", ""); got != tg {
				t.Errorf("group %d is %q, want %q", i, got, tg)
			}
			for id, want := range map[string]string{
				"group-branches":    fmt.Sprint(tagCount[tg]),
				"group-problems":    fmt.Sprint(tagProblem[tg]),
				"group-net-revenue": format.Money(tagRevenue[tg]),
			} {
				if got := text(byTestID(g, id)); got != want {
					t.Errorf("%s %s = %q, want %q", tg, id, got, want)
				}
			}
			if href := g.Find("a").AttrOr("href", ""); href != "/?q=tag%3A"+tg+"&sort=state" {
				t.Errorf("%s links to %q", tg, href)
			}
		}
	})
	t.Run("search keeps the sort and the sort keeps the search", func(t *testing.T) {
		d := e.page(t, "/?q=branch-001&sort=revenue", http.StatusOK)
		if v := byTestID(d.Selection, "search").Find(`input[name="sort"]`).AttrOr("value", ""); v != "revenue" {
			t.Errorf("search form sort %q, want revenue", v)
		}
		if v := byTestID(d.Selection, "search-input").AttrOr("value", ""); v != "branch-001" {
			t.Errorf("search box holds %q", v)
		}
		if href := byTestID(d.Selection, "sort-name").AttrOr("href", ""); href != "/?q=branch-001&sort=name" {
			t.Errorf("sort link %q keeps no search", href)
		}
		if id := byTestID(d.Selection, "branch-row").First().AttrOr("data-branch-id", ""); id != richest {
			t.Errorf("first by revenue is %s, want %s", id, richest)
		}
	})
	t.Run("pager links", func(t *testing.T) {
		d := e.page(t, "/?page=2&sort=name", http.StatusOK)
		for id, want := range map[string]string{"page-prev": "/?sort=name", "page-next": "/?page=3&sort=name", "page-first": "/?sort=name", "page-last": "/?page=3&sort=name"} {
			if got := byTestID(d.Selection, id).AttrOr("href", ""); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
	})
	t.Run("no match", func(t *testing.T) {
		d := e.page(t, "/?q=nowhere", http.StatusOK)
		if byTestID(d.Selection, "no-match").Length() != 1 || byTestID(d.Selection, "branch-row").Length() != 0 {
			t.Error("a search matching nothing does not say so")
		}
		// the banner still counts every branch's problems
		if got := byTestID(d.Selection, "alerts-banner").AttrOr("data-problems", ""); got != fmt.Sprint(2*7) {
			t.Errorf("banner problems %q, want 14", got)
		}
	})
}

// countingService is the aggregator's service with its clock set by the
// test, counting the per-branch reads the overview makes.
type countingService struct {
	*service.Service
	at       atomic.Int64 // unix nanoseconds
	branches atomic.Int64 // calls of Branches
	series   atomic.Int64 // calls of Series
}

func (s *countingService) Now() time.Time { return time.Unix(0, s.at.Load()) }

func (s *countingService) Branches() []service.BranchStatus {
	s.branches.Add(1)
	return s.Service.Branches()
}

func (s *countingService) Series() (map[string]*business.Branch, uint64) {
	s.series.Add(1)
	return s.Service.Series()
}

// TestOverviewWorkOncePerSyncAndMinute: the branches' statuses and
// business series are read once per sync and minute, however many pages,
// sorts and searches are asked for; a new minute or a new sync reads them
// again (ages and states move); every page shows the current minute.
func TestOverviewWorkOncePerSyncAndMinute(t *testing.T) {
	for _, uncached := range []bool{false, true} {
		t.Run(fmt.Sprintf("page cache off %v", uncached), func(t *testing.T) {
			e, _, _ := s3Env(t)
			svc := &countingService{Service: e.App.Service}
			svc.at.Store(now.UnixNano())
			d, err := dashboard.New(dashboard.Options{Service: svc, Location: fixture.IST, NoPageCache: uncached})
			if err != nil {
				t.Fatal(err)
			}
			ec := echo.New()
			d.Register(ec, func(next echo.HandlerFunc) echo.HandlerFunc { return next })
			get := func(target string) *goquery.Document {
				t.Helper()
				rec := httptest.NewRecorder()
				ec.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
				if rec.Code != http.StatusOK {
					t.Fatalf("GET %s: %d", target, rec.Code)
				}
				doc, err := goquery.NewDocumentFromReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				return doc
			}
			targets := []string{"/", "/?sort=name", "/?sort=revenue", "/?page=2", "/?q=andheri", "/?q=branch&sort=name"}
			for range 3 {
				for _, target := range targets {
					get(target)
				}
			}
			if b, m := svc.branches.Load(), svc.series.Load(); b != 1 || m != 1 {
				t.Errorf("%d pages read the statuses %d times and the series %d times, want once each", 3*len(targets), b, m)
			}
			age := func() string { return text(byTestID(row(get("/"), healthy), "last-backup-age")) }
			if got := age(); got != "13 hours 59 minutes ago" {
				t.Fatalf("backup age %q", got)
			}
			svc.at.Store(now.Add(time.Minute).UnixNano())
			if got := age(); got != "14 hours ago" {
				t.Errorf("a minute later the backup age reads %q", got)
			}
			get("/?q=andheri")
			if b, m := svc.branches.Load(), svc.series.Load(); b != 2 || m != 2 {
				t.Errorf("a new minute: statuses read %d times, series %d, want 2 and 2", b, m)
			}
			if err := svc.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			get("/")
			get("/?sort=name")
			if b, m := svc.branches.Load(), svc.series.Load(); b != 3 || m != 3 {
				t.Errorf("a new sync: statuses read %d times, series %d, want 3 and 3", b, m)
			}
		})
	}
}
