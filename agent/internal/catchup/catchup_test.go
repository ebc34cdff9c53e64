package catchup_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const branch = "branch-andheri"

var kolkata, _ = time.LoadLocation("Asia/Kolkata")

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// now is the tests' wall clock: noon on 20 Feb 2026 in the branch's zone.
var now = time.Date(2026, 2, 20, 12, 0, 0, 0, kolkata)

// setup is a branch database with demo data for `days` days ending 15 Feb.
func setup(t testing.TB, days int) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	_, url := testenv.NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := demodata.CreateSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if days > 0 {
		if _, err := demodata.Generate(ctx, pool, demodata.Options{Days: days, Seed: 3, End: day("2026-02-15"), Location: kolkata, BillsPerDay: 20}); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

func newSummarizer(t testing.TB, pool *pgxpool.Pool, query string) *summary.Summarizer {
	t.Helper()
	cfg := summary.Config{BranchID: branch, Location: kolkata, Now: func() time.Time { return now }}
	if query != "" {
		p := filepath.Join(t.TempDir(), "q.sql")
		if err := os.WriteFile(p, []byte(query), 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := summary.LoadQueryFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Query = q
	}
	s, err := summary.New(pool, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func finalDates(t *testing.T, s *summary.Summarizer) []string {
	t.Helper()
	st, err := s.Stored(context.Background(), day("2000-01-01"), day("2100-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for d, v := range st {
		if v.Final {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func TestSummaryCatchUp(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		days      int // of demo data, ending 15 Feb
		maxDays   int
		query     string
		wantFirst string // first and last date summarized, "" for none
		wantLast  string
	}{
		{"from the earliest date in the data to yesterday", 30, 400, "", "2026-01-17", "2026-02-19"},
		{"bounded by SUMMARY_CATCHUP_MAX_DAYS", 30, 10, "", "2026-02-10", "2026-02-19"},
		{"no data: nothing", 0, 400, "", "", ""},
		{"a query file: the last max days", 0, 5, `SELECT 0 AS total_bills, 0 AS refund_count, 0 AS gross_revenue, 0 AS discount_amount,
			0 AS refund_amount, 0 AS cgst_collected, 0 AS sgst_collected, 0 AS cash_collected, 0 AS digital_collected,
			0 AS actual_service_cogs, 0 AS actual_product_cogs, 0 AS total_expenses, 0 AS total_tips WHERE $3::date IS NOT NULL`, "2026-02-15", "2026-02-19"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := setup(t, c.days)
			s := newSummarizer(t, pool, c.query)
			res, err := catchup.Summaries(ctx, s, c.maxDays, discard())
			if err != nil {
				t.Fatal(err)
			}
			got := finalDates(t, s)
			if c.wantFirst == "" {
				if len(got) != 0 || len(res.Done) != 0 {
					t.Fatalf("summarized %v", got)
				}
				return
			}
			wantN := int(day(c.wantLast).Sub(day(c.wantFirst)).Hours()/24) + 1
			if len(got) != wantN || got[0] != c.wantFirst || got[len(got)-1] != c.wantLast || len(res.Done) != wantN {
				t.Errorf("final summaries %d from %s to %s (done %d), want %d from %s to %s", len(got), first(got), last(got), len(res.Done), wantN, c.wantFirst, c.wantLast)
			}
			again, err := catchup.Summaries(ctx, s, c.maxDays, discard())
			if err != nil || len(again.Done) != 0 {
				t.Errorf("second run summarized %v (%v), want nothing", again.Done, err)
			}
		})
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return s[len(s)-1]
}

func TestSummaryCatchUpRecomputesNonFinalAndSurvivesABadDay(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, 5)
	// A summary of 14 Feb pushed during that day: not final.
	early := newSummarizer(t, pool, "")
	saved := now
	now = time.Date(2026, 2, 14, 12, 0, 0, 0, kolkata)
	out, err := early.Summarize(ctx, day("2026-02-14"), false)
	now = saved
	if err != nil || out.Document.IsFinal {
		t.Fatalf("setup: %+v %v", out.Document, err)
	}
	res, err := catchup.Summaries(ctx, early, 400, discard())
	if err != nil {
		t.Fatal(err)
	}
	if !contains(res.Done, "2026-02-14") {
		t.Errorf("the non-final summary of a past date was not recomputed: %v", res.Done)
	}

	// A query that fails on one date only: the others are still done.
	bad := newSummarizer(t, pool, `SELECT 0 AS total_bills, 0 AS refund_count, 0 AS gross_revenue, 0 AS discount_amount,
		0 AS refund_amount, 0 AS cgst_collected, 0 AS sgst_collected, 0 AS cash_collected, 0 AS digital_collected,
		0 AS actual_service_cogs, 0 AS actual_product_cogs, 0 AS total_expenses,
		1 / (CASE WHEN $3::date = DATE '2026-02-17' THEN 0 ELSE 1 END) - 1 AS total_tips`)
	if _, err := pool.Exec(ctx, "TRUNCATE branch_agent.day_summaries"); err != nil {
		t.Fatal(err)
	}
	res, err = catchup.Summaries(ctx, bad, 5, discard())
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("err = %v, want the failing date's error", err)
	}
	if len(res.Failed) != 1 || res.Failed[0] != "2026-02-17" || len(res.Done) != 4 {
		t.Errorf("done %v failed %v, want 4 done and 2026-02-17 failed", res.Done, res.Failed)
	}

	// A query failing on every date: the catch-up gives up rather than
	// trying 400 days.
	hopeless := newSummarizer(t, pool, `SELECT 1 / 0 AS total_bills WHERE $3::date IS NOT NULL`)
	res, err = catchup.Summaries(ctx, hopeless, 400, discard())
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 failures in a row") || len(res.Failed) > 4 || len(res.Done) != 0 {
		t.Errorf("err %v, failed %d dates, done %d: want to give up after about 3", err, len(res.Failed), len(res.Done))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// counter counts the S3 requests that list and that put.
type counter struct{ lists, puts atomic.Int64 }

func (c *counter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && (r.URL.Query().Has("list-type") || r.URL.Query().Has("prefix")):
			c.lists.Add(1)
		case r.Method == http.MethodPut:
			c.puts.Add(1)
		}
		next.ServeHTTP(w, r)
	})
}

func TestMetricsCatchUp(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, 30)
	s := newSummarizer(t, pool, "")
	var c counter
	srv := testenv.StartS3(t, testenv.WithMiddleware(c.middleware))
	st := srv.Store(t)
	p, err := push.New(branch, st, t.TempDir(), discard())
	if err != nil {
		t.Fatal(err)
	}
	// Already in the bucket: 10 and 12 Feb, pushed by this agent.
	for _, d := range []string{"2026-02-10", "2026-02-12"} {
		if _, _, err := p.PushDate(ctx, s, day(d), false); err != nil {
			t.Fatal(err)
		}
	}
	c.lists.Store(0)
	c.puts.Store(0)

	res, err := catchup.Metrics(ctx, s, p, 14, discard())
	if err != nil {
		t.Fatal(err)
	}
	if c.lists.Load() != 1 {
		t.Errorf("%d list requests, want one listing", c.lists.Load())
	}
	if len(res.Done) != 12 || c.puts.Load() != 12 || contains(res.Done, "2026-02-10") || contains(res.Done, "2026-02-12") {
		t.Errorf("pushed %v with %d PUTs, want the 12 missing days of 6 to 19 Feb", res.Done, c.puts.Load())
	}
	keys := bucketDates(t, st)
	if len(keys) != 14 || keys[0] != "2026-02-06" || keys[13] != "2026-02-19" {
		t.Errorf("bucket holds %v, want 6 to 19 Feb", keys)
	}

	// A summary recomputed since its push is pushed again; the rest is left alone.
	if _, err := s.Summarize(ctx, day("2026-02-11"), true); err != nil {
		t.Fatal(err)
	}
	c.puts.Store(0)
	res, err = catchup.Metrics(ctx, s, p, 14, discard())
	if err != nil || len(res.Done) != 1 || res.Done[0] != "2026-02-11" || c.puts.Load() != 1 {
		t.Errorf("second run pushed %v with %d PUTs (%v), want only 2026-02-11", res.Done, c.puts.Load(), err)
	}

	if res, err := catchup.Metrics(ctx, s, p, 0, discard()); err != nil || len(res.Done) != 0 {
		t.Errorf("METRICS_CATCHUP_DAYS=0 pushed %v (%v)", res.Done, err)
	}
}

func bucketDates(t *testing.T, st store.Store) []string {
	t.Helper()
	var out []string
	for o, err := range store.All(context.Background(), st, store.ListOptions{Prefix: branch + "/metrics/"}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(o.Key, branch+"/metrics/"), ".json"))
	}
	return out
}

func TestRunLocalOnly(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, 3)
	s := newSummarizer(t, pool, "")
	dir := t.TempDir()
	p, err := push.New(branch, nil, dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	sums, pushes, err := catchup.Run(ctx, s, p, 400, 7, discard())
	if err != nil {
		t.Fatal(err)
	}
	// Data from 13 Feb: summaries 13 to 19 Feb; metrics for the 7 days 13 to 19 Feb.
	if len(sums.Done) != 7 || len(pushes.Done) != 7 {
		t.Errorf("summarized %v, pushed %v", sums.Done, pushes.Done)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "metrics"))
	if len(entries) != 7 || entries[0].Name() != "2026-02-13.json" {
		t.Errorf("metrics directory holds %d files starting %v", len(entries), entries)
	}
}

// A branch younger than the window gets no documents for the days before
// its first business day: zeros there would show it open and empty.
func TestMetricsCatchUpStartsAtTheFirstBusinessDay(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, 5) // bills from 11 to 15 Feb
	s := newSummarizer(t, pool, "")
	st := testenv.StartS3(t).Store(t)
	p, err := push.New(branch, st, t.TempDir(), discard())
	if err != nil {
		t.Fatal(err)
	}
	res, err := catchup.Metrics(ctx, s, p, 14, discard())
	if err != nil {
		t.Fatal(err)
	}
	keys := bucketDates(t, st)
	if len(keys) == 0 || keys[0] != "2026-02-11" || keys[len(keys)-1] != "2026-02-19" || len(keys) != 9 {
		t.Errorf("bucket holds %v (pushed %v), want 11 to 19 Feb: nothing before the first bill", keys, res.Done)
	}
}
