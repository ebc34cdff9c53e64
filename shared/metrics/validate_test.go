package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestValidateReportsEveryViolation: one error, one line, every rule named.
func TestValidateReportsEveryViolation(t *testing.T) {
	d := seed(t)
	d.SchemaVersion = 2
	d.BranchID = "Bad"
	d.BranchName = "\xff"
	d.SummaryDate = "2026-02-30"
	d.GeneratedAt = "2026-02-16T21:45:00"
	d.Currency = "inr"
	d.TotalBills = -1
	d.RefundCount = -1
	d.NetRevenue++
	d.TotalTax++
	d.TotalCOGS++
	d.GrossProfit += 5
	d.NetProfit++
	err := d.Validate()
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("got %v, want ErrInvalid and ErrUnsupportedVersion", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, want := range []string{
		"schema_version is 2, want 1",
		`branch_id: branch id "Bad"`,
		"branch_name is not valid UTF-8",
		`summary_date "2026-02-30"`,
		`generated_at "2026-02-16T21:45:00"`,
		`currency "inr"`,
		"total_bills -1 is negative",
		"refund_count -1 is negative",
		"net_revenue 11800001 != gross_revenue - discount_amount - refund_amount = 11800000",
		"total_tax 2124001 != cgst_collected + sgst_collected = 2124000",
		"total_cogs 3500001 != actual_service_cogs + actual_product_cogs = 3500000",
		"gross_profit 8300005 != net_revenue - total_cogs = 8300000",
		"net_profit 6800001 != gross_profit - total_expenses = 6800005",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
}

func TestValidateOverflow(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Document)
		want string
	}{
		{"sub", func(d *Document) { d.GrossRevenue, d.DiscountAmount = math.MinInt64, 1 }, "net_revenue cannot be checked"},
		{"add", func(d *Document) { d.CGSTCollected, d.SGSTCollected = math.MaxInt64, 1 }, "total_tax cannot be checked"},
		{"add negative", func(d *Document) { d.ActualServiceCOGS, d.ActualProductCOGS = math.MinInt64, -1 }, "total_cogs cannot be checked"},
		{"sub negative", func(d *Document) { d.GrossProfit, d.TotalExpenses = math.MaxInt64, -1 }, "net_profit cannot be checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seed(t)
			tt.mod(&d)
			if err := d.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	// Extremes that do not overflow are fine.
	d := Document{SchemaVersion: 1, BranchID: "a", SummaryDate: "2026-01-01",
		GeneratedAt: "2026-01-01T23:00:00+05:30", Currency: "INR",
		GrossRevenue: math.MaxInt64, DiscountAmount: 1}
	d.Derive()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want string // "" for no error
	}{
		{"match", "branch-andheri/metrics/2026-02-16.json", ""},
		{"date", "branch-andheri/metrics/2026-02-17.json", "summary_date 2026-02-16 does not match key date 2026-02-17"},
		{"branch", "branch-bandra/metrics/2026-02-16.json", `branch_id "branch-andheri" does not match key branch "branch-bandra"`},
		{"both", "branch-bandra/metrics/2026-02-17.json", "branch-bandra\"; summary_date 2026-02-16 does not match"},
		{"backup key", "branch-andheri/backups/branch-andheri_20260216_220000.dump", "is not a metrics key"},
		{"monthly bundle key", "branch-andheri/metrics/monthly/2026-02.json", "is not a metrics key"},
		{"bad key", "branch-andheri/metrics/2026-02-30.json", "malformed key"},
		{"traversal", "../branch-andheri/metrics/2026-02-16.json", "malformed key"},
	}
	d := seed(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.CheckKey(tt.key)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrKeyMismatch containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateZeroDocument(t *testing.T) {
	err := Document{}.Validate()
	if err == nil {
		t.Fatal("zero Document validated")
	}
	for _, want := range []string{"schema_version", "branch_id", "summary_date", "generated_at", "currency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not named in %v", want, err)
		}
	}
}

// TestCheckCurrency: only INR documents are summed; any other currency,
// valid against the schema or not, is refused with a reason naming it.
func TestCheckCurrency(t *testing.T) {
	for _, tt := range []struct {
		name, currency, want string
	}{
		{"rupees", "INR", ""},
		{"dollars", "USD", "currency USD: only INR is supported"},
		{"euros", "EUR", "currency EUR: only INR is supported"},
		{"lower case", "inr", `currency "inr": only INR is supported`},
		{"empty", "", `currency "": only INR is supported`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := seed(t)
			d.Currency = tt.currency
			err := d.CheckCurrency()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrUnsupportedCurrency) {
				t.Fatalf("got %v, want %q wrapping ErrUnsupportedCurrency", err, tt.want)
			}
		})
	}
	d := seed(t)
	d.Currency = "USD"
	if err := d.Validate(); err != nil {
		t.Errorf("a USD document is valid against the schema, got %v", err)
	}
}

// TestCheckedAdd: sums within int64 are exact, and every overflow is
// reported, never wrapped.
func TestCheckedAdd(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b int64
		sum  int64
		ok   bool
	}{
		{"small", 2, 3, 5, true},
		{"mixed signs", math.MaxInt64, math.MinInt64, -1, true},
		{"to the top", math.MaxInt64 - 1, 1, math.MaxInt64, true},
		{"two 5e18", 5e18, 5e18, 0, false},
		{"past the top", math.MaxInt64, 1, 0, false},
		{"past the bottom", math.MinInt64, -1, 0, false},
		{"two -5e18", -5e18, -5e18, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sum, ok := CheckedAdd(tt.a, tt.b)
			if ok != tt.ok || (ok && sum != tt.sum) {
				t.Errorf("CheckedAdd(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, sum, ok, tt.sum, tt.ok)
			}
		})
	}
}

// TestValidateYearHorizon: dates a later computation could push past what
// JSON encodes are refused, each naming its field.
func TestValidateYearHorizon(t *testing.T) {
	tests := []struct {
		name, date, generated, want string
	}{
		{"summary 9999", "9999-12-31", "2026-02-16T21:45:00+05:30", "summary_date 9999-12-31: year 9999 is outside 1970-2999"},
		{"generated 9999", "2026-02-16", "9999-12-31T23:59:59-05:00", "generated_at 9999-12-31T23:59:59-05:00: year is outside"},
		{"summary 1969", "1969-12-31", "2026-02-16T21:45:00+05:30", "summary_date 1969-12-31: year 1969"},
		{"in range", "2999-12-31", "2999-12-31T21:45:00+05:30", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seed(t)
			d.SummaryDate, d.GeneratedAt = tt.date, tt.generated
			err := d.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
