package csvexport_test

import (
	"bytes"
	"encoding/csv"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/csvexport"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// textColumns are the columns holding text that came from a branch.
var textColumns = map[string]bool{"branch_id": true, "branch_name": true, "summary_date": true, "generated_at": true, "currency": true}

// countColumns are the integer columns that are not money.
var countColumns = map[string]bool{"schema_version": true, "total_bills": true, "refund_count": true}

// formulaStarts are the first characters a spreadsheet runs as a formula.
const formulaStarts = "=+-@\t\r"

// FuzzEncoder writes two arbitrary documents and reads the output back with
// encoding/csv: it must parse, have the header and two rows, give back
// every cell (text cells neutralised with a leading quote exactly when they
// start like a formula; money in paise or as decimal rupees), and no text
// cell may start with a formula character.
func FuzzEncoder(f *testing.F) {
	f.Add("branch-andheri", "Salon, \"Andheri\"", "2026-02-16", "2026-02-16T21:45:00+05:30", "INR", int64(12500000), int64(-200000), false)
	f.Add("x", "=HYPERLINK(\"http://x\",\"y\")", "+1", "@now", "-", int64(-1), int64(1<<62), true)
	f.Add("", "\tTab\r\nline", "\r", "", "\n", int64(-9223372036854775808), int64(9223372036854775807), false)
	f.Add("a", "\xff\xfe invalid utf-8 \"", " =leading space", "\\.", ",", int64(5), int64(-5), true)
	f.Fuzz(func(t *testing.T, id, name, date, generated, currency string, money, other int64, rupees bool) {
		d1 := metrics.Document{
			SchemaVersion: 1, BranchID: id, BranchName: name, SummaryDate: date, GeneratedAt: generated, IsFinal: rupees,
			Currency: currency, TotalBills: money, RefundCount: other, GrossRevenue: money, DiscountAmount: other,
			RefundAmount: money ^ other, CashCollected: -money, DigitalCollected: other / 7, TotalTips: money % 1000,
		}
		d1.Derive()
		d2 := d1
		d2.BranchID, d2.BranchName, d2.Currency = name, generated, id
		d2.NetProfit, d2.TotalExpenses = other, money
		units := csvexport.Paise
		if rupees {
			units = csvexport.Rupees
		}

		var b bytes.Buffer
		enc := csvexport.NewEncoder(&b)
		enc.SetUnits(units)
		for _, d := range []metrics.Document{d1, d2} {
			if err := enc.Encode(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
		if err != nil {
			t.Fatalf("output does not parse as CSV: %v\n%q", err, b.String())
		}
		if len(recs) != 3 || !slices.Equal(recs[0], metrics.FieldNames) {
			t.Fatalf("want the header and 2 rows, got %d records: %q", len(recs), recs)
		}
		for r, d := range []metrics.Document{d1, d2} {
			row, vals := recs[r+1], d.Values()
			for i, col := range metrics.FieldNames {
				want := vals[i]
				switch {
				case textColumns[col]:
					if strings.ContainsAny(want[:min(1, len(want))], formulaStarts) {
						want = "'" + want
					}
					// encoding/csv reads a quoted CRLF back as LF.
					want = strings.ReplaceAll(want, "\r\n", "\n")
					if row[i] != "" && strings.ContainsAny(row[i][:1], formulaStarts) {
						t.Errorf("row %d %s: cell %q starts like a formula", r, col, row[i])
					}
				case col == "is_final":
				case rupees && !countColumns[col]:
					want = rupeeString(d, i)
				}
				if row[i] != want {
					t.Errorf("row %d %s: cell %q, want %q", r, col, row[i], want)
				}
			}
		}
	})
}

// rupeeString is the i-th field (paise) as rupees with two decimals,
// computed with exact rationals rather than the encoder's arithmetic.
func rupeeString(d metrics.Document, i int) string {
	n, ok := new(big.Int).SetString(d.Values()[i], 10)
	if !ok {
		return "not a number"
	}
	return new(big.Rat).SetFrac(n, big.NewInt(100)).FloatString(2)
}
