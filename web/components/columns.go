package components

import (
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/chart"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

// column is one figure of the daily table: its metrics-v1 field name (the
// cell's data-testid), its heading, and whether it is money.
type column struct {
	field string
	label string
	money bool
	get   func(*metrics.Document) int64
}

// dailyColumns are every figure of a metrics document, in spec order.
var dailyColumns = []column{
	{"total_bills", "Bills", false, func(d *metrics.Document) int64 { return d.TotalBills }},
	{"refund_count", "Refunds", false, func(d *metrics.Document) int64 { return d.RefundCount }},
	{"gross_revenue", "Gross revenue", true, func(d *metrics.Document) int64 { return d.GrossRevenue }},
	{"discount_amount", "Discounts", true, func(d *metrics.Document) int64 { return d.DiscountAmount }},
	{"refund_amount", "Refunded", true, func(d *metrics.Document) int64 { return d.RefundAmount }},
	{"net_revenue", "Net revenue", true, func(d *metrics.Document) int64 { return d.NetRevenue }},
	{"cgst_collected", "CGST", true, func(d *metrics.Document) int64 { return d.CGSTCollected }},
	{"sgst_collected", "SGST", true, func(d *metrics.Document) int64 { return d.SGSTCollected }},
	{"total_tax", "Tax", true, func(d *metrics.Document) int64 { return d.TotalTax }},
	{"cash_collected", "Cash", true, func(d *metrics.Document) int64 { return d.CashCollected }},
	{"digital_collected", "Digital", true, func(d *metrics.Document) int64 { return d.DigitalCollected }},
	{"actual_service_cogs", "Service COGS", true, func(d *metrics.Document) int64 { return d.ActualServiceCOGS }},
	{"actual_product_cogs", "Product COGS", true, func(d *metrics.Document) int64 { return d.ActualProductCOGS }},
	{"total_cogs", "COGS", true, func(d *metrics.Document) int64 { return d.TotalCOGS }},
	{"total_expenses", "Expenses", true, func(d *metrics.Document) int64 { return d.TotalExpenses }},
	{"gross_profit", "Gross profit", true, func(d *metrics.Document) int64 { return d.GrossProfit }},
	{"net_profit", "Net profit", true, func(d *metrics.Document) int64 { return d.NetProfit }},
	{"total_tips", "Tips", true, func(d *metrics.Document) int64 { return d.TotalTips }},
}

// branchCharts lays out the branch page's three charts over its range.
func branchCharts(p view.BranchPage) []chart.Plot {
	series := func(id, title string, kind chart.Kind, get func(*metrics.Document) int64, money bool) chart.Plot {
		pts := make([]chart.Point, len(p.Days))
		for i := range p.Days {
			pts[i] = chart.Point{Date: p.Days[i].Date, Value: get(&p.Days[i].Doc), Provisional: !p.Days[i].Doc.IsFinal}
		}
		s := chart.Series{ID: id, Title: title, Kind: kind, From: p.Range.From, To: p.Range.To, Points: pts}
		if money {
			s.Format, s.Short, s.Append = format.Money, format.MoneyShort, format.AppendMoney
		} else {
			s.Format, s.Append = format.Count, format.AppendCount
		}
		return chart.Layout(s)
	}
	return []chart.Plot{
		series("net-revenue", "Net revenue", chart.Line, func(d *metrics.Document) int64 { return d.NetRevenue }, true),
		series("bills", "Bills", chart.Bars, func(d *metrics.Document) int64 { return d.TotalBills }, false),
		series("net-profit", "Net profit", chart.Bars, func(d *metrics.Document) int64 { return d.NetProfit }, true),
	}
}
