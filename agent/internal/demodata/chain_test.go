package demodata_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestDemoBranchesLookLikeARealChain generates 30 days for branches of
// the demo's sizes and seeds (shared/demo DefaultBranches) and reads them
// back as the agent does, through the metrics query: each branch makes a
// profit over the 30 days; the 1st carries the rent and the salaries and
// is a loss day because of them; weekends take more than weekdays.
func TestDemoBranchesLookLikeARealChain(t *testing.T) {
	ctx := context.Background()
	// 30 days ending 5 March 2026: 4 weekends and the 1st of March.
	end := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	first := "2026-03-01"
	for _, c := range []struct {
		name        string
		seed        int64
		billsPerDay int
	}{
		{"Andheri West", 11, 60},
		{"Bandra", 22, 75},
		{"Powai", 33, 45},
		{"a small branch", 7, 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			pg := testenv.PG(t)
			pool, err := pgxpool.New(ctx, pg.URL(pg.CreateDatabase(t)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			if _, err := demodata.Generate(ctx, pool, demodata.Options{Days: 30, Seed: c.seed, End: end, Location: kolkata, BillsPerDay: c.billsPerDay}); err != nil {
				t.Fatal(err)
			}
			sum, err := summary.New(pool, summary.Config{BranchID: "branch-demo", Location: kolkata,
				Now: func() time.Time { return end.AddDate(0, 0, 2) }}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			var docs []metrics.Document
			for d := end.AddDate(0, 0, -29); !d.After(end); d = d.AddDate(0, 0, 1) {
				out, err := sum.Summarize(ctx, d, true)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, out.Document)
			}

			var profit, weekend, weekday int64
			var nWeekend, nWeekday int64
			var rentDay *metrics.Document
			for i := range docs {
				d := &docs[i]
				profit += d.NetProfit
				date, _ := time.Parse(time.DateOnly, d.SummaryDate)
				if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
					weekend += d.NetRevenue
					nWeekend++
				} else {
					weekday += d.NetRevenue
					nWeekday++
				}
				if d.SummaryDate == first {
					rentDay = d
				}
			}
			if profit <= 0 {
				t.Errorf("30-day net profit %d paise: the branch loses money", profit)
			}
			// Weekends are busier: their mean day takes at least a fifth more.
			if weekend*nWeekday*5 < weekday*nWeekend*6 {
				t.Errorf("mean weekend net revenue %d, mean weekday %d: want the weekend at least 20%% higher", weekend/nWeekend, weekday/nWeekday)
			}

			var rent, salaries int64
			if err := pool.QueryRow(ctx, `SELECT coalesce(sum(amount) FILTER (WHERE category = 'Rent'), 0), coalesce(sum(amount) FILTER (WHERE category = 'Staff salaries'), 0)
				FROM expenses WHERE spent_on = $1::date`, first).Scan(&rent, &salaries); err != nil {
				t.Fatal(err)
			}
			var elsewhere int64
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM expenses WHERE category IN ('Rent', 'Staff salaries') AND extract(day FROM spent_on) <> 1`).Scan(&elsewhere); err != nil {
				t.Fatal(err)
			}
			switch {
			case rentDay == nil:
				t.Fatalf("no document for %s", first)
			case rent <= 0 || salaries <= 0 || elsewhere != 0:
				t.Errorf("the 1st carries rent %d and salaries %d; %d rent or salary rows on other days", rent, salaries, elsewhere)
			case rentDay.TotalExpenses < rent+salaries:
				t.Errorf("the 1st's total_expenses %d leaves out rent %d and salaries %d", rentDay.TotalExpenses, rent, salaries)
			case rentDay.NetProfit >= 0 || rentDay.GrossProfit <= 0:
				t.Errorf("the 1st: gross profit %d, net profit %d; want a loss made by its expenses", rentDay.GrossProfit, rentDay.NetProfit)
			}
		})
	}
}
