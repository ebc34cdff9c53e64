package csvexport_test

import (
	"bytes"
	"encoding/csv"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/csvexport"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

func encode(t *testing.T, units csvexport.Units, docs ...metrics.Document) [][]string {
	t.Helper()
	var b bytes.Buffer
	enc := csvexport.NewEncoder(&b)
	enc.SetUnits(units)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("output is not RFC 4180 CSV: %v\n%s", err, b.String())
	}
	return recs
}

func column(name string) int { return slices.Index(metrics.FieldNames, name) }

func TestHeaderOnlyWhenEmpty(t *testing.T) {
	recs := encode(t, csvexport.Paise)
	if len(recs) != 1 || !slices.Equal(recs[0], metrics.FieldNames) {
		t.Fatalf("empty export = %v", recs)
	}
}

func TestCells(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *metrics.Document)
		units  csvexport.Units
		field  string
		want   string
	}{
		{"formula", func(d *metrics.Document) { d.BranchName = "=1+2" }, csvexport.Paise, "branch_name", "'=1+2"},
		{"plus", func(d *metrics.Document) { d.BranchName = "+91 Salon" }, csvexport.Paise, "branch_name", "'+91 Salon"},
		{"minus", func(d *metrics.Document) { d.BranchName = "-Salon" }, csvexport.Paise, "branch_name", "'-Salon"},
		{"at", func(d *metrics.Document) { d.BranchName = "@SUM(A1)" }, csvexport.Paise, "branch_name", "'@SUM(A1)"},
		{"tab", func(d *metrics.Document) { d.BranchName = "\tx" }, csvexport.Paise, "branch_name", "'\tx"},
		{"carriage return", func(d *metrics.Document) { d.BranchName = "\rx" }, csvexport.Paise, "branch_name", "'\rx"},
		{"comma, quote and newline survive quoting", func(d *metrics.Document) { d.BranchName = "Salon \"A\", Bandra\nWest" }, csvexport.Paise, "branch_name", "Salon \"A\", Bandra\nWest"},
		{"unicode", func(d *metrics.Document) { d.BranchName = "सैलून ✂" }, csvexport.Paise, "branch_name", "सैलून ✂"},
		{"negative number stays a number", func(d *metrics.Document) { d.NetProfit = -1234 }, csvexport.Paise, "net_profit", "-1234"},
		{"rupees", func(d *metrics.Document) { d.GrossRevenue = 12_500_050 }, csvexport.Rupees, "gross_revenue", "125000.50"},
		{"negative rupees", func(d *metrics.Document) { d.NetProfit = -5 }, csvexport.Rupees, "net_profit", "-0.05"},
		{"smallest int64 in rupees", func(d *metrics.Document) { d.NetProfit = math.MinInt64 }, csvexport.Rupees, "net_profit", "-92233720368547758.08"},
		{"counts stay counts in rupees", func(d *metrics.Document) { d.TotalBills = 42 }, csvexport.Rupees, "total_bills", "42"},
		{"bool", func(d *metrics.Document) { d.IsFinal = false }, csvexport.Rupees, "is_final", "false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := fixture.Doc("andheri", "2026-02-16", 1)
			c.mutate(&d)
			recs := encode(t, c.units, d)
			if len(recs) != 2 {
				t.Fatalf("%d records", len(recs))
			}
			if got := recs[1][column(c.field)]; got != c.want {
				t.Errorf("%s = %q, want %q", c.field, got, c.want)
			}
		})
	}
}

func TestParseUnits(t *testing.T) {
	for in, want := range map[string]csvexport.Units{"": csvexport.Paise, "paise": csvexport.Paise, "rupees": csvexport.Rupees} {
		if got, err := csvexport.ParseUnits(in); err != nil || got != want {
			t.Errorf("ParseUnits(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := csvexport.ParseUnits("INR"); err == nil {
		t.Error("ParseUnits(INR) accepted")
	}
}

// discard counts bytes.
type discard struct{ n int }

func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkExport writes the 182,500 rows of 500 branches × 365 days and
// reports the time and the heap in use afterwards. Bound (issue 5: flat
// memory): the heap grows at most 1.5× what it grows for a fifth of the
// rows (73 days) in the same run, the lowest of benchbound.Runs runs each.
func BenchmarkExport(b *testing.B) {
	docs := make([]metrics.Document, 0, 500)
	for i := range 500 {
		docs = append(docs, fixture.Doc(fixture.BranchID(i), "2026-02-16", int64(i)))
	}
	export := func(days int) (growthMiB, writtenMiB float64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := &discard{}
		enc := csvexport.NewEncoder(w)
		for range days {
			for _, d := range docs {
				if err := enc.Encode(d); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / (1 << 20), float64(w.n) / (1 << 20)
	}
	for b.Loop() {
		var written float64
		start := time.Now()
		big := benchbound.Lowest(func(int) float64 {
			g, n := export(365)
			written = n
			return g
		})
		b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(benchbound.Runs()), "ms/export")
		small := benchbound.Lowest(func(int) float64 { g, _ := export(73); return g })
		b.ReportMetric(written, "MiB-written")
		b.ReportMetric(big, "MiB-heap-growth")
		b.ReportMetric(small, "MiB-heap-growth-fifth")
		// A floor of 1 MiB for the fifth: below it the ratio measures noise.
		benchbound.RatioAtMost(b,
			benchbound.Figure{Name: "heap growth exporting 182,500 rows", Value: big, Unit: "MiB"},
			benchbound.Figure{Name: "heap growth exporting 36,500 rows (at least 1)", Value: max(small, 1), Unit: "MiB"}, 1.5)
	}
}

// TestRowMatchesValues: in paise, a row is the document's own Values.
func TestRowMatchesValues(t *testing.T) {
	for i := range 20 {
		d := fixture.Doc(fixture.BranchID(i), fixture.Date("2026-01-01", i), int64(i*7919))
		d.IsFinal = i%2 == 0
		recs := encode(t, csvexport.Paise, d)
		if !slices.Equal(recs[1], d.Values()) {
			t.Fatalf("row %v\nwant %v", recs[1], d.Values())
		}
	}
}
