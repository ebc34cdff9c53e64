package components

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/web/view"
)

// BenchmarkOverview500 renders the overview of 500 branches: the page
// cost without any HTTP or service work around it. Reported only, for
// profiling: the issues' figures for the pages are the p99s over HTTP
// that aggregator/internal/dashboard's BenchmarkDashboardLoad and
// BenchmarkOverview5000 bound.
func BenchmarkOverview500(b *testing.B) {
	p := overviewFixture()
	base := p.Branches[0]
	// A 30-day sparkline on every row, as the dashboard lays them out.
	var pts []view.SparkPoint
	for i := range 30 {
		pts = append(pts, view.SparkPoint{Date: today.AddDate(0, 0, i-30), Value: int64(10_000_000 + i*37_000), Final: i != 29})
	}
	base.Spark = view.LayoutSpark(pts)
	base.Reported, base.SameWeekday = true, view.Change{Against: "a week before", OK: true, Ratio: 0.042}
	p.Branches = p.Branches[:0]
	for i := range 500 {
		r := base
		r.ID = fmt.Sprintf("branch-%03d", i)
		r.Name = fmt.Sprintf("Salon %03d", i)
		r.NetRevenue += int64(i) * 1000
		p.Branches = append(p.Branches, r)
	}
	p.Totals = view.Sum(p.Branches)
	cw := &countWriter{}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for range rendersPerOp {
			if err := Overview(p).Render(context.Background(), cw); err != nil {
				b.Fatal(err)
			}
		}
	}
	pages := float64(b.N * rendersPerOp)
	b.ReportMetric(float64(cw.n)/pages, "bytes/page")
	b.ReportMetric(float64(time.Since(start).Microseconds())/pages, "µs/page")
}

// rendersPerOp renders per benchmark iteration, so that `make bench`
// (-benchtime 1x) still averages over enough renders to mean something.
const rendersPerOp = 50

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// BenchmarkBranch90 renders a branch page of 90 days with 90 backups.
// Reported only, like BenchmarkOverview500 (BenchmarkDashboardLoad bounds
// the page's p99 over HTTP).
func BenchmarkBranch90(b *testing.B) {
	p := branchFixture()
	p.Range = view.PresetRange(today, 90)
	p.Days = p.Days[:0]
	for i := range 90 {
		date := p.Range.From.AddDate(0, 0, i)
		p.Days = append(p.Days, view.DayRow{Date: date, Doc: doc(p.ID, date, int64(30+i%20), 12500000+int64(i)*10000, 500000, 200000, 3500000, 1500000)})
	}
	bk := p.Backups[0]
	p.Backups = p.Backups[:0]
	for range 90 {
		p.Backups = append(p.Backups, bk)
	}
	cw := &countWriter{}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for range rendersPerOp {
			if err := Branch(p).Render(context.Background(), cw); err != nil {
				b.Fatal(err)
			}
		}
	}
	pages := float64(b.N * rendersPerOp)
	b.ReportMetric(float64(cw.n)/pages, "bytes/page")
	b.ReportMetric(float64(time.Since(start).Microseconds())/pages, "µs/page")
}
