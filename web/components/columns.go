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
	// group is the column's group (see columnGroups); class its cells'
	// CSS classes, set by init.
	group string
	class string
}

// columnGroup is a run of the daily table's columns under one heading;
// the page's group switcher shows one group at a time on a phone.
type columnGroup struct {
	ID, Label string
	Fields    []string
}

// columnGroups are the daily table's groups, in column order.
var columnGroups = []columnGroup{
	{"revenue", "Revenue", []string{"total_bills", "refund_count", "gross_revenue", "discount_amount", "refund_amount", "net_revenue"}},
	{"tax", "Tax", []string{"cgst_collected", "sgst_collected", "total_tax"}},
	{"collections", "Collections", []string{"cash_collected", "digital_collected"}},
	{"costs", "Costs", []string{"actual_service_cogs", "actual_product_cogs", "total_cogs", "total_expenses"}},
	{"profit", "Profit", []string{"gross_profit", "net_profit", "total_tips"}},
}

func init() {
	i := 0
	for _, g := range columnGroups {
		for j, f := range g.Fields {
			if dailyColumns[i].field != f {
				panic("components: column groups out of order at " + f)
			}
			dailyColumns[i].group = g.ID
			dailyColumns[i].class = "num g-" + g.ID
			if j == 0 {
				dailyColumns[i].class += " group-start"
			}
			i++
		}
	}
	if i != len(dailyColumns) {
		panic("components: a daily column has no group")
	}
}

// dailyColumns are every figure of a metrics document, in spec order.
var dailyColumns = []column{
	col("total_bills", "Bills", false, func(d *metrics.Document) int64 { return d.TotalBills }),
	col("refund_count", "Refunds", false, func(d *metrics.Document) int64 { return d.RefundCount }),
	col("gross_revenue", "Gross revenue", true, func(d *metrics.Document) int64 { return d.GrossRevenue }),
	col("discount_amount", "Discounts", true, func(d *metrics.Document) int64 { return d.DiscountAmount }),
	col("refund_amount", "Refunded", true, func(d *metrics.Document) int64 { return d.RefundAmount }),
	col("net_revenue", "Net revenue", true, func(d *metrics.Document) int64 { return d.NetRevenue }),
	col("cgst_collected", "CGST", true, func(d *metrics.Document) int64 { return d.CGSTCollected }),
	col("sgst_collected", "SGST", true, func(d *metrics.Document) int64 { return d.SGSTCollected }),
	col("total_tax", "Tax", true, func(d *metrics.Document) int64 { return d.TotalTax }),
	col("cash_collected", "Cash", true, func(d *metrics.Document) int64 { return d.CashCollected }),
	col("digital_collected", "Digital", true, func(d *metrics.Document) int64 { return d.DigitalCollected }),
	col("actual_service_cogs", "Service cost", true, func(d *metrics.Document) int64 { return d.ActualServiceCOGS }),
	col("actual_product_cogs", "Product cost", true, func(d *metrics.Document) int64 { return d.ActualProductCOGS }),
	col("total_cogs", "Cost of sales", true, func(d *metrics.Document) int64 { return d.TotalCOGS }),
	col("total_expenses", "Expenses", true, func(d *metrics.Document) int64 { return d.TotalExpenses }),
	col("gross_profit", "Gross profit", true, func(d *metrics.Document) int64 { return d.GrossProfit }),
	col("net_profit", "Net profit", true, func(d *metrics.Document) int64 { return d.NetProfit }),
	col("total_tips", "Tips", true, func(d *metrics.Document) int64 { return d.TotalTips }),
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

func col(field, label string, money bool, get func(*metrics.Document) int64) column {
	return column{field: field, label: label, money: money, get: get}
}
