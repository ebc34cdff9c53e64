package demodata_test

import (
	"context"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
)

// BenchmarkGenerate2MBills loads two million bills (with their items,
// payments, refunds and expenses) and reports the rate.
func BenchmarkGenerate2MBills(b *testing.B) {
	ctx := context.Background()
	end := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	for range b.N {
		b.StopTimer()
		conn := connect(b)
		b.StartTimer()
		start := time.Now()
		res, err := demodata.Generate(ctx, conn, demodata.Options{Days: 400, Seed: 1, End: end, Location: kolkata, BillsPerDay: 4600})
		if err != nil {
			b.Fatal(err)
		}
		secs := time.Since(start).Seconds()
		if res.Bills < 2_000_000 {
			b.Fatalf("only %d bills", res.Bills)
		}
		b.ReportMetric(float64(res.Bills), "bills")
		b.ReportMetric(float64(res.Bills+res.Items+res.Payments+res.Refunds+res.Expenses)/secs, "rows/s")
		b.ReportMetric(secs, "s/load")
	}
}
