package summary_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/summary"
)

func TestIsFinalAndRecomputation(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t, "UTC")
	exec(t, pool, `INSERT INTO bills (id, bill_number, billed_at, status, subtotal) VALUES (1, 'a', '2026-02-16 10:00:00+05:30', 'paid', 1000)`)
	clock := &fixedClock{ist("2026-02-16 21:44:59")}
	s := newSummarizer(t, pool, clock, nil) // default schedule: final from 21:45

	addBill := func(t *testing.T, id int, amount int64) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO bills (id, bill_number, billed_at, status, subtotal) VALUES ($1, $2, '2026-02-16 20:00:00+05:30', 'paid', $3)`, id, fmt.Sprint(id), amount); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name         string
		at           string // branch wall clock
		addAmount    int64  // a bill added before the step, when not 0
		force        bool
		wantGross    int64
		wantFinal    bool
		wantComputed bool
	}{
		{"a minute before the summary time: not final", "2026-02-16 21:44:59", 0, false, 1000, false, true},
		{"not final, so recomputed", "2026-02-16 21:44:59", 500, false, 1500, false, true},
		{"at the summary time: final", "2026-02-16 21:45:00", 0, false, 1500, true, true},
		{"a final summary is kept", "2026-02-16 23:00:00", 250, false, 1500, true, false},
		{"a past date's final summary is kept", "2026-02-18 09:00:00", 0, false, 1500, true, false},
		{"until forced", "2026-02-18 09:00:00", 0, true, 1750, true, true},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.t = ist(st.at)
			if st.addAmount != 0 {
				addBill(t, 10+i, st.addAmount)
			}
			out, err := s.Summarize(ctx, date("2026-02-16"), st.force)
			if err != nil {
				t.Fatal(err)
			}
			d := out.Document
			if d.GrossRevenue != st.wantGross || d.IsFinal != st.wantFinal || out.Computed != st.wantComputed {
				t.Errorf("gross %d final %v computed %v; want %d %v %v", d.GrossRevenue, d.IsFinal, out.Computed, st.wantGross, st.wantFinal, st.wantComputed)
			}
			if st.wantComputed && d.GeneratedAt != clock.t.Format("2006-01-02T15:04:05")+"+05:30" {
				t.Errorf("generated_at = %s, want the step's time with +05:30", d.GeneratedAt)
			}
		})
	}

	t.Run("a future date is refused", func(t *testing.T) {
		clock.t = ist("2026-02-16 12:00:00")
		_, err := s.Summarize(ctx, date("2026-02-17"), false)
		if err == nil || !strings.Contains(err.Error(), "in the future") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFinalTimeFromSchedule(t *testing.T) {
	cases := []struct {
		spec string
		want summary.TimeOfDay
	}{
		{"45 21 * * *", summary.TimeOfDay{Hour: 21, Minute: 45}},
		{"0 22 * * *", summary.TimeOfDay{Hour: 22, Minute: 0}},
		{"30 20 * * 1-6", summary.TimeOfDay{Hour: 20, Minute: 30}},
		{"0,30 12,21 * * *", summary.TimeOfDay{Hour: 21, Minute: 30}},
		{"@every 1h", summary.DefaultFinalTime},
		{"not cron", summary.DefaultFinalTime},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			if got := summary.FinalTimeFromSchedule(c.spec); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t, "")
	var wg sync.WaitGroup
	results := make([][]int, 4)
	errs := make([]error, 4)
	for i := range 4 { // four agents starting at once
		wg.Go(func() { results[i], errs[i] = summary.Migrate(ctx, pool) })
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("migrate %d: %v", i, errs[i])
		}
		total += len(results[i])
	}
	if total != summary.LatestVersion() {
		t.Errorf("%d migrations applied in all, want each of %d once", total, summary.LatestVersion())
	}
	again, err := summary.Migrate(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Errorf("second run applied %v (%v), want nothing", again, err)
	}

	exec(t, pool, "INSERT INTO branch_agent.schema_migrations (version, name) VALUES (999, 'from_the_future')")
	_, err = summary.Migrate(ctx, pool)
	if err == nil || !strings.Contains(err.Error(), "newer than this agent knows") {
		t.Errorf("a newer schema: err = %v", err)
	}
}

func TestEarliestDate(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t, "America/New_York")
	s := newSummarizer(t, pool, &fixedClock{ist("2026-03-01 10:00:00")}, nil)
	if _, known, err := s.EarliestDate(ctx); err != nil || known {
		t.Fatalf("empty database: known %v, %v", known, err)
	}
	// 00:10 IST on 10 Feb is still 9 Feb in UTC and New York.
	exec(t, pool, `INSERT INTO bills (id, bill_number, billed_at, status, subtotal) VALUES (1, 'a', '2026-02-10 00:10:00+05:30', 'void', 0);
		INSERT INTO expenses (spent_on, category, amount) VALUES ('2026-02-12', 'x', 1)`)
	d, known, err := s.EarliestDate(ctx)
	if err != nil || !known || d.Format("2006-01-02") != "2026-02-10" {
		t.Errorf("earliest = %s %v %v, want 2026-02-10", d, known, err)
	}
	exec(t, pool, `INSERT INTO expenses (spent_on, category, amount) VALUES ('2026-01-31', 'x', 1)`)
	if d, _, _ := s.EarliestDate(ctx); d.Format("2006-01-02") != "2026-01-31" {
		t.Errorf("earliest = %s, want the expense's date 2026-01-31", d)
	}
}

// writeQuery writes a METRICS_QUERY_FILE.
func writeQuery(t *testing.T, sql string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "metrics.sql")
	if err := os.WriteFile(p, []byte(sql), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// goodQuery is a METRICS_QUERY_FILE over a POS table of its own: every base
// figure, no derived one.
const goodQuery = `SELECT count(*) AS total_bills, 0 AS refund_count, coalesce(sum(gross), 0) AS gross_revenue,
	0 AS discount_amount, 0 AS refund_amount, 0 AS cgst_collected, 0 AS sgst_collected,
	coalesce(sum(gross), 0) AS cash_collected, 0 AS digital_collected, 0 AS actual_service_cogs,
	0 AS actual_product_cogs, 10 AS total_expenses, 0 AS total_tips
	FROM pos_sales WHERE sold_at >= $1 AND sold_at < $2`

func TestPluggableQuery(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t, "America/New_York")
	exec(t, pool, `CREATE TABLE pos_sales (sold_at timestamptz, gross bigint, day date);
		INSERT INTO pos_sales VALUES ('2026-02-16 23:59:59+05:30', 700, '2026-02-16'), ('2026-02-17 00:00:00+05:30', 300, '2026-02-17')`)

	good := []struct {
		name      string
		sql       string
		wantGross int64
		wantNet   int64
	}{
		{"base figures only: the derived ones are derived", goodQuery, 700, 690},
		{"numeric sums and derived figures given", strings.Replace(goodQuery, "0 AS total_tips", "0 AS total_tips, sum(gross)::numeric AS net_revenue, 0 AS total_tax, 0 AS total_cogs, sum(gross) AS gross_profit, sum(gross) - 10 AS net_profit", 1), 700, 690},
		{"only $3 used", `SELECT 1 AS total_bills, 0 AS refund_count, sum(gross) AS gross_revenue, 0 AS discount_amount, 0 AS refund_amount,
			0 AS cgst_collected, 0 AS sgst_collected, 0 AS cash_collected, 0 AS digital_collected, 0 AS actual_service_cogs,
			0 AS actual_product_cogs, 0 AS total_expenses, 0 AS total_tips, 'extra' AS comment FROM pos_sales WHERE day = $3::text::date`, 700, 700},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			s := newSummarizer(t, pool, &fixedClock{ist("2026-03-01 10:00:00")}, func(cfg *summary.Config) {
				q, err := summary.LoadQueryFile(writeQuery(t, c.sql))
				if err != nil {
					t.Fatal(err)
				}
				cfg.Query = q
			})
			if err := s.Check(ctx); err != nil {
				t.Fatalf("check: %v", err)
			}
			out, err := s.Summarize(ctx, date("2026-02-16"), true)
			if err != nil {
				t.Fatal(err)
			}
			if out.Document.GrossRevenue != c.wantGross || out.Document.NetProfit != c.wantNet {
				t.Errorf("gross %d net profit %d, want %d %d", out.Document.GrossRevenue, out.Document.NetProfit, c.wantGross, c.wantNet)
			}
		})
	}

	bad := []struct {
		name    string
		sql     string
		want    string // in the error, besides the file's path
		checkOK bool   // Check (no execution) cannot see it
	}{
		{"no row", goodQuery + " HAVING false", "returned no row", true},
		{"two rows", goodQuery + " UNION ALL " + goodQuery, "returned more than one row", true},
		{"a missing column", strings.Replace(goodQuery, "0 AS refund_amount,", "", 1), `column "refund_amount" is missing`, false},
		{"a NULL", strings.Replace(goodQuery, "coalesce(sum(gross), 0) AS gross_revenue", "sum(gross) * NULL AS gross_revenue", 1), `column "gross_revenue" is NULL`, true},
		{"a fraction", strings.Replace(goodQuery, "0 AS total_tips", "12.5 AS total_tips", 1), `column "total_tips" is 12.5`, true},
		{"text", strings.Replace(goodQuery, "0 AS refund_count", "'two' AS refund_count", 1), `column "refund_count" is "two"`, true},
		{"a float", strings.Replace(goodQuery, "0 AS refund_count", "1.0::float8 AS refund_count", 1), `column "refund_count" is 1 (float8)`, true},
		{"a column twice", strings.Replace(goodQuery, "0 AS refund_count", "0 AS refund_count, 1 AS refund_count", 1), `column "refund_count" appears more than once`, true},
		{"a derived figure that breaks an invariant", strings.Replace(goodQuery, "0 AS total_tips", "0 AS total_tips, 1 AS total_tax", 1), "total_tax 1 != cgst_collected + sgst_collected", true},
		{"not SQL", "SELEC nothing", "was refused by the server", false},
		{"an unknown table", strings.Replace(goodQuery, "pos_sales", "no_such_table", 1), "was refused by the server", false},
		{"a write", "WITH x AS (INSERT INTO pos_sales VALUES (now(), 1, now()::date) RETURNING 1) " + goodQuery, "read-only transaction", true},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			path := writeQuery(t, c.sql)
			s := newSummarizer(t, pool, &fixedClock{ist("2026-03-01 10:00:00")}, func(cfg *summary.Config) {
				q, err := summary.LoadQueryFile(path)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Query = q
			})
			before := storedCount(t, pool)
			_, err := s.Summarize(ctx, date("2026-02-16"), true)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, path, c.want)
			}
			if _, ok := errors.AsType[*summary.QueryError](err); !ok && !strings.Contains(c.name, "invariant") {
				t.Errorf("error is not a *QueryError: %T", err)
			}
			if after := storedCount(t, pool); after != before {
				t.Errorf("stored summaries were %s, now %s: nothing may be stored", before, after)
			}
			if err := s.Check(ctx); (err == nil) != c.checkOK {
				t.Errorf("Check = %v, want error: %v", err, !c.checkOK)
			}
		})
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pos_sales").Scan(&n); err != nil || n != 2 {
		t.Errorf("pos_sales has %d rows (%v): a query file must not write", n, err)
	}
}

// storedCount fingerprints the stored summaries, to tell that nothing was
// written.
func storedCount(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT count(*) || '/' || coalesce(string_agg(summary_date || query_source || gross_revenue || generated_at, ','), '')
		FROM branch_agent.day_summaries`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
