package summary_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/benchbound"
)

// BenchmarkSummarizeDay summarizes single days of a branch database
// holding over two million bills (400 days of about 5,000 bills), each
// with its items, payments, refunds and expenses, and reports the median
// and the slowest day. The bound is 50 ms for the slowest day, each day's
// time the best of benchbound.Runs. It also fails if the
// default query's plan reads a whole table instead of an index range.
func BenchmarkSummarizeDay(b *testing.B) {
	ctx := context.Background()
	pool := newDB(b, "UTC")
	end := date("2026-02-16")
	res, err := demodata.Generate(ctx, pool, demodata.Options{Days: 400, Seed: 1, End: end, Location: kolkata, BillsPerDay: 4600})
	if err != nil {
		b.Fatal(err)
	}
	if res.Bills < 2_000_000 {
		b.Fatalf("only %d bills", res.Bills)
	}

	start, next := summary.DayBounds(end, kolkata)
	rows, err := pool.Query(ctx, "EXPLAIN "+summary.DefaultQuerySQL, start.Format(time.RFC3339), next.Format(time.RFC3339), end.Format(time.DateOnly))
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

	s := newSummarizer(b, pool, &fixedClock{ist("2026-02-17 10:00:00")}, nil)
	const days = 30 // every fifth day: all weekdays, Saturdays (the busiest) included
	// Warm up the connection (migration, prepared statement).
	if _, err := s.Summarize(ctx, end, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var busiest int64
	for range b.N {
		// Each of the 30 days is summarized benchbound.Runs times and its
		// best time counts (the best of 3 absorbs a stall from other work
		// on the machine); the figure is the slowest day's best time.
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

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
