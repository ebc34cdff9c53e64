package catchup_test

import (
	"context"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/shared/benchbound"
)

// BenchmarkSummaryCatchUp365Days catches up a year of missing summaries on
// a branch database holding over two million bills (400 days of about
// 5,000 bills). The bound is 10 s, for the best of benchbound.Runs runs.
func BenchmarkSummaryCatchUp365Days(b *testing.B) {
	ctx := context.Background()
	pool := setup(b, 0)
	// Today is 20 Feb: the data ends yesterday, and a year of it is to catch up.
	res, err := demodata.Generate(ctx, pool, demodata.Options{Days: 400, Seed: 1, End: day("2026-02-19"), Location: kolkata, BillsPerDay: 4600})
	if err != nil {
		b.Fatal(err)
	}
	if res.Bills < 2_000_000 {
		b.Fatalf("only %d bills", res.Bills)
	}
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
