package csvexport_test

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/csvexport"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// The owner's file: a byte order mark (a spreadsheet then reads ₹ as
// UTF-8), headings in words, rupees with two decimals, yes/no.
func TestLabelsForPeople(t *testing.T) {
	d := fixture.Doc("branch-andheri", "2026-02-16", 3)
	d.GrossRevenue = 1234550 // ₹12,345.50; Derive keeps the rest consistent
	d.Derive()
	var b bytes.Buffer
	enc := csvexport.NewEncoder(&b)
	enc.SetUnits(csvexport.Rupees)
	enc.SetLabels(true)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "\uFEFF") {
		t.Fatalf("no byte order mark: %q", out[:20])
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\uFEFF"))).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %v, %d records", err, len(recs))
	}
	tests := []struct{ field, heading, cell string }{
		{"gross_revenue", "Gross revenue (₹)", "12345.50"},
		{"summary_date", "Date", "2026-02-16"},
		{"is_final", "Final", "yes"},
		{"total_bills", "Bills", strconv.FormatInt(d.TotalBills, 10)},
	}
	for _, tc := range tests {
		i := column(tc.field)
		if recs[0][i] != tc.heading || recs[1][i] != tc.cell {
			t.Errorf("%s: %q / %q, want %q / %q", tc.field, recs[0][i], recs[1][i], tc.heading, tc.cell)
		}
	}
	for _, name := range metrics.FieldNames {
		if csvexport.Labels[name] == "" {
			t.Errorf("no label for %s", name)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	for in, want := range map[string]bool{"": false, "names": false, "labels": true} {
		got, err := csvexport.ParseHeaders(in)
		if err != nil || got != want {
			t.Errorf("ParseHeaders(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := csvexport.ParseHeaders("fancy"); err == nil || !strings.Contains(err.Error(), "headers") {
		t.Errorf("ParseHeaders(fancy) = %v, want an error naming headers", err)
	}
}
