package view

import "github.com/branchwatch/branchwatch/shared/metrics"

// Total is a sum of figures (money in paise, or counts) over days or
// branches, added with overflow checks: a sum beyond int64 is not wrapped
// into a wrong (often negative) figure but marked Overflow, and shown as
// unavailable with OverflowReason.
type Total struct {
	Value    int64
	Overflow bool
}

// OverflowReason says why a total is unavailable.
const OverflowReason = "The sum is too large to add up (beyond 64-bit integers): check the documents for absurd figures."

// TotalOf is a total of one figure.
func TotalOf(v int64) Total { return Total{Value: v} }

// Add adds v; once overflowed, the total stays unavailable.
func (t *Total) Add(v int64) {
	if t.Overflow {
		return
	}
	s, ok := metrics.CheckedAdd(t.Value, v)
	if !ok {
		*t = Total{Overflow: true}
		return
	}
	t.Value = s
}

// AddTotal adds another total (unavailable if either is).
func (t *Total) AddTotal(o Total) {
	if o.Overflow {
		*t = Total{Overflow: true}
		return
	}
	t.Add(o.Value)
}

// PerDay is the total divided by days (0 with no days); unavailable when
// the total is.
func (t Total) PerDay(days int) Total {
	if t.Overflow || days == 0 {
		return Total{Overflow: t.Overflow}
	}
	return Total{Value: t.Value / int64(days)}
}

// FigureTotals sums every figure of documents, each field on its own:
// Doc holds the sums, Overflow names (by their metrics-v1 field names) the
// figures whose sum overflowed, which are unavailable.
type FigureTotals struct {
	Doc      metrics.Document
	Overflow map[string]bool
}

// Add adds d's figures.
func (t *FigureTotals) Add(d metrics.Document) {
	add := func(field string, sum *int64, v int64) {
		if t.Overflow[field] {
			return
		}
		s, ok := metrics.CheckedAdd(*sum, v)
		if !ok {
			if t.Overflow == nil {
				t.Overflow = map[string]bool{}
			}
			t.Overflow[field], *sum = true, 0
			return
		}
		*sum = s
	}
	s := &t.Doc
	add("total_bills", &s.TotalBills, d.TotalBills)
	add("refund_count", &s.RefundCount, d.RefundCount)
	add("gross_revenue", &s.GrossRevenue, d.GrossRevenue)
	add("discount_amount", &s.DiscountAmount, d.DiscountAmount)
	add("refund_amount", &s.RefundAmount, d.RefundAmount)
	add("net_revenue", &s.NetRevenue, d.NetRevenue)
	add("cgst_collected", &s.CGSTCollected, d.CGSTCollected)
	add("sgst_collected", &s.SGSTCollected, d.SGSTCollected)
	add("total_tax", &s.TotalTax, d.TotalTax)
	add("cash_collected", &s.CashCollected, d.CashCollected)
	add("digital_collected", &s.DigitalCollected, d.DigitalCollected)
	add("actual_service_cogs", &s.ActualServiceCOGS, d.ActualServiceCOGS)
	add("actual_product_cogs", &s.ActualProductCOGS, d.ActualProductCOGS)
	add("total_cogs", &s.TotalCOGS, d.TotalCOGS)
	add("total_expenses", &s.TotalExpenses, d.TotalExpenses)
	add("gross_profit", &s.GrossProfit, d.GrossProfit)
	add("net_profit", &s.NetProfit, d.NetProfit)
	add("total_tips", &s.TotalTips, d.TotalTips)
}
