package components

import (
	"strings"

	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

// changeClass is the CSS class of a change (the arrow and words carry the
// meaning; colour only repeats it).
func changeClass(c view.Change) string { return "change " + c.Direction() }

// changeText is a change in words, or why there is none.
func changeText(c view.Change) string {
	if !c.OK {
		return "no figures " + c.Against
	}
	return format.Change(c.Ratio) + " on " + c.Against
}

// lossCause says what made a loss day a loss: its expenses, when the day
// made a loss and had any.
func lossCause(r view.BranchRow) string {
	if r.NetProfit >= 0 || r.Expenses <= 0 {
		return ""
	}
	return "expenses " + format.Money(r.Expenses)
}

// headlineNames is how many branch names the headline lists before "and
// N more": a chain of thousands finds the rest on the pages, problems
// first.
const headlineNames = 10

// joinNames lists names, at most headlineNames of them.
func joinNames(names []string) string {
	if len(names) <= headlineNames {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:headlineNames], ", ") + " and " + format.Count(int64(len(names)-headlineNames)) + " more"
}

// firstNames is at most headlineNames of list.
func firstNames(list []string) []string { return list[:min(len(list), headlineNames)] }

// ratioChange compares cur with prev ("the previous period").
func ratioChange(cur, prev int64) view.Change {
	c := view.Change{Against: "the previous period"}
	if prev != 0 {
		p := float64(prev)
		if p < 0 {
			p = -p
		}
		c.OK, c.Ratio = true, float64(cur-prev)/p
	}
	return c
}

// comparedFigures are the figures the branch page compares with the
// previous period.
var comparedFigures = []column{
	col("net_revenue", "Net revenue", true, func(d *metrics.Document) int64 { return d.NetRevenue }),
	col("total_expenses", "Expenses", true, func(d *metrics.Document) int64 { return d.TotalExpenses }),
	col("net_profit", "Net profit", true, func(d *metrics.Document) int64 { return d.NetProfit }),
}
