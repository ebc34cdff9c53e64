package catchup_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/benchbound"
)

// BenchmarkSummaries: issue 4's two figures on one branch database holding
// over two million bills (400 days of about 4,600 bills, each with its
// items, payments, refunds and expenses, ending 19 February), generated
// once for both (generating it takes minutes on a busy machine):
//   - day: one day's summary, at most 50 ms for the slowest day;
//   - catch-up-365-days: a year of missing summaries, at most 10 s.
//
// It also reports the demo data's load rate at that size.
func BenchmarkSummaries(b *testing.B) {
	ctx := context.Background()
	pool := setup(b, 0)
	t0 := time.Now()
	res, err := demodata.Generate(ctx, pool, demodata.Options{Days: 400, Seed: 1, End: day("2026-02-19"), Location: kolkata, BillsPerDay: 4600})
	if err != nil {
		b.Fatal(err)
	}
	if res.Bills < 2_000_000 {
		b.Fatalf("only %d bills", res.Bills)
	}
	loadRate := float64(res.Bills+res.Items+res.Payments+res.Refunds+res.Expenses) / time.Since(t0).Seconds()
	b.Logf("demo data: %d bills in %s (%.0f rows/s)", res.Bills, time.Since(t0).Round(time.Second), loadRate)
	b.Run("day", func(b *testing.B) { summarizeDays(b, pool, res) })
	b.Run("catch-up-365-days", func(b *testing.B) { catchUpYear(b, pool, res) })
}

// summarizeDays summarizes 30 single days (every fifth, so every weekday
// and the busy Saturdays) and reports the median and the slowest day. The
// bound is 50 ms for the slowest day, each day's time the best of
// benchbound.Runs. It also fails if the default query's plan reads a
// whole table instead of an index range.
func summarizeDays(b *testing.B, pool *pgxpool.Pool, res demodata.Result) {
	ctx := context.Background()
	end := day("2026-02-16")
	start, next := summary.DayBounds(end, kolkata)
	rows, err := pool.Query(ctx, "EXPLAIN "+summary.DefaultQuery().SQL(), start.Format(time.RFC3339), next.Format(time.RFC3339), end.Format(time.DateOnly))
	if err != nil {
		b.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, line)
	}
	if rows.Err() != nil {
		b.Fatal(rows.Err())
	}
	for _, table := range []string{"bills", "bill_items", "payments", "refunds", "expenses"} {
		for _, l := range plan {
			if strings.Contains(l, "Seq Scan on "+table+" ") {
				b.Fatalf("the default query reads all of %s:\n%s", table, strings.Join(plan, "\n"))
			}
		}
	}
	s := newSummarizer(b, pool, "")
	const days = 30
	// Warm up the connection (migration, prepared statement).
	if _, err := s.Summarize(ctx, end, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var busiest int64
	for range b.N {
		// Each day is summarized benchbound.Runs times and its best time
		// counts (the best of 3 absorbs a stall from other work on the
		// machine); the figure is the slowest day's best time.
		best := make([]float64, days)
		for i := range best {
			best[i] = math.Inf(1)
		}
		benchbound.Lowest(func(int) float64 {
			for i := range days {
				d := end.AddDate(0, 0, -i*5)
				t0 := time.Now()
				out, err := s.Summarize(ctx, d, true)
				if err != nil {
					b.Fatal(err)
				}
				best[i] = min(best[i], ms(time.Since(t0)))
				busiest = max(busiest, out.Document.TotalBills)
			}
			return 0
		})
		b.StopTimer()
		slices.Sort(best)
		median, slowest := best[len(best)/2], best[len(best)-1]
		b.ReportMetric(median, "ms/day-median")
		b.ReportMetric(slowest, "ms/day-max")
		b.ReportMetric(float64(res.Bills), "bills-in-db")
		b.ReportMetric(float64(busiest), "bills-busiest-day")
		b.Logf("one day's summary: median %.1f ms, slowest %.1f ms (best of %d each), %d bills in the database", median, slowest, benchbound.Runs(), res.Bills)
		// Issue 4: one day at most 50 ms. An absolute bound: no baseline
		// of the same run stands for a PostgreSQL index-range query.
		benchbound.AtMost(b, benchbound.Figure{Name: "slowest day's summary", Value: slowest, Unit: "ms"}, 50)
	}
}

// catchUpYear catches up a year of missing summaries (today is 20
// February: the data ends yesterday). The bound is 10 s, for the best of
// benchbound.Runs runs.
func catchUpYear(b *testing.B, pool *pgxpool.Pool, res demodata.Result) {
	ctx := context.Background()
	b.ResetTimer()
	var secs float64
	for range b.N {
		secs = benchbound.Lowest(func(int) float64 {
			b.StopTimer()
			if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS branch_agent CASCADE"); err != nil {
				b.Fatal(err)
			}
			s := newSummarizer(b, pool, "") // migrates again on first use
			b.StartTimer()
			t0 := time.Now()
			out, err := catchup.Summaries(ctx, s, 365, discard())
			took := time.Since(t0).Seconds()
			if err != nil {
				b.Fatal(err)
			}
			if len(out.Done) != 365 {
				b.Fatalf("caught up %d days, want 365", len(out.Done))
			}
			return took
		})
	}
	b.ReportMetric(secs, "s/365-days")
	b.ReportMetric(secs/365*1000, "ms/day")
	b.ReportMetric(float64(res.Bills), "bills-in-db")
	b.Logf("catch-up of 365 days: %.2f s (best of %d), %d bills in the database", secs, benchbound.Runs(), res.Bills)
	// Issue 4: at most 10 s. Absolute: no baseline of the same run stands
	// for a year of PostgreSQL summaries.
	benchbound.AtMost(b, benchbound.Figure{Name: "catch-up of 365 days", Value: secs, Unit: "s"}, 10)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
