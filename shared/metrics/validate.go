package metrics

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/branchwatch/branchwatch/shared/layout"
)

// Validate checks every rule of the schema: the version, branch_id,
// branch_name (valid UTF-8), summary_date (a real date), generated_at
// (RFC 3339 with an offset; for both, a year within layout.MinYear to
// layout.MaxYear, so that no time derived from them overflows an encoder), currency (three upper-case letters), the
// non-negative counts and the five invariants between figures. It reports
// every violation, each naming its field and rule, in one error wrapping
// ErrInvalid (and ErrUnsupportedVersion for a wrong version).
func (d Document) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if d.SchemaVersion != CurrentMajor {
		add(fmt.Errorf("%w: schema_version is %d, want %d", ErrUnsupportedVersion, d.SchemaVersion, CurrentMajor))
	}
	if err := layout.ValidateBranchID(d.BranchID); err != nil {
		add(fmt.Errorf("branch_id: %w", err))
	}
	if !utf8.ValidString(d.BranchName) {
		add(fieldErr("branch_name", "is not valid UTF-8"))
	}
	if _, err := layout.ParseDate(d.SummaryDate); err != nil {
		if t, perr := time.Parse(layout.DateFormat, d.SummaryDate); perr == nil && layout.CheckYear(t) != nil {
			add(fieldErr("summary_date", "%s: year %d is outside %d-%d", d.SummaryDate, t.Year(), layout.MinYear, layout.MaxYear))
		} else {
			add(fieldErr("summary_date", "%q is not a real date (YYYY-MM-DD)", d.SummaryDate))
		}
	}
	if t, err := d.GeneratedTime(); err != nil {
		add(err)
	} else if layout.CheckYear(t.UTC()) != nil || layout.CheckYear(t) != nil {
		add(fieldErr("generated_at", "%s: year is outside %d-%d", d.GeneratedAt, layout.MinYear, layout.MaxYear))
	}
	if !isCurrencyCode(d.Currency) {
		add(fieldErr("currency", "%q is not an ISO 4217 code (three upper-case letters)", d.Currency))
	}
	if d.TotalBills < 0 {
		add(fieldErr("total_bills", "%d is negative, must be >= 0", d.TotalBills))
	}
	if d.RefundCount < 0 {
		add(fieldErr("refund_count", "%d is negative, must be >= 0", d.RefundCount))
	}

	net, ok1 := sub(d.GrossRevenue, d.DiscountAmount)
	net, ok2 := sub(net, d.RefundAmount)
	add(invariant("net_revenue", d.NetRevenue, "gross_revenue - discount_amount - refund_amount", net, ok1 && ok2))
	tax, ok := CheckedAdd(d.CGSTCollected, d.SGSTCollected)
	add(invariant("total_tax", d.TotalTax, "cgst_collected + sgst_collected", tax, ok))
	cogs, ok := CheckedAdd(d.ActualServiceCOGS, d.ActualProductCOGS)
	add(invariant("total_cogs", d.TotalCOGS, "actual_service_cogs + actual_product_cogs", cogs, ok))
	gross, ok := sub(d.NetRevenue, d.TotalCOGS)
	add(invariant("gross_profit", d.GrossProfit, "net_revenue - total_cogs", gross, ok))
	np, ok := sub(d.GrossProfit, d.TotalExpenses)
	add(invariant("net_profit", d.NetProfit, "gross_profit - total_expenses", np, ok))

	return join(ErrInvalid, errs)
}

// SupportedCurrency is the one currency whose documents are summed: money
// is in paise (see the package documentation, "Currency").
const SupportedCurrency = DefaultCurrency

// ErrUnsupportedCurrency is wrapped by CheckCurrency's error.
var ErrUnsupportedCurrency = errors.New("only " + SupportedCurrency + " is supported")

// CheckCurrency refuses a document in another currency than INR: its
// figures must not be added to rupee totals. The error reads "currency
// USD: only INR is supported".
func (d Document) CheckCurrency() error {
	if d.Currency == SupportedCurrency {
		return nil
	}
	if isCurrencyCode(d.Currency) {
		return fmt.Errorf("currency %s: %w", d.Currency, ErrUnsupportedCurrency)
	}
	return fmt.Errorf("currency %q: %w", d.Currency, ErrUnsupportedCurrency)
}

// CheckKey checks d against the bucket key it was read from
// ({branch}/metrics/{YYYY-MM-DD}.json): branch_id must be the key's branch
// and summary_date the key's date. Errors wrap ErrKeyMismatch.
func (d Document) CheckKey(key string) error {
	k, err := layout.ParseKey(key, time.UTC)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	if k.Kind != layout.MetricsDir {
		return fmt.Errorf("%w: %q is not a metrics key", ErrKeyMismatch, key)
	}
	var errs []error
	if d.BranchID != k.Branch {
		errs = append(errs, fieldErr("branch_id", "%q does not match key branch %q", d.BranchID, k.Branch))
	}
	if kd := k.Date.Format(layout.DateFormat); d.SummaryDate != kd {
		errs = append(errs, fieldErr("summary_date", "%s does not match key date %s", d.SummaryDate, kd))
	}
	return join(ErrKeyMismatch, errs)
}

// invariant reports a derived figure that differs from its formula, or a
// formula that overflows int64 (ok false).
func invariant(name string, got int64, formula string, want int64, ok bool) error {
	if !ok {
		return fieldErr(name, "cannot be checked: %s overflows int64", formula)
	}
	if got != want {
		return fieldErr(name, "%d != %s = %d", got, formula, want)
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// add64 returns a+b and whether it did not overflow.
func CheckedAdd(a, b int64) (int64, bool) {
	s := a + b
	// Overflow iff a and b have the same sign and s has the other.
	return s, (a >= 0) != (b >= 0) || (s >= 0) == (a >= 0)
}

// sub returns a-b and whether it did not overflow.
func sub(a, b int64) (int64, bool) {
	s := a - b
	return s, (a >= 0) == (b >= 0) || (s >= 0) == (a >= 0)
}
