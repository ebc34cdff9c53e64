package view

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// BranchPage is one branch's page.
type BranchPage struct {
	Now  time.Time
	Sync SyncStatus
	ID   string
	Name string
	// Zone is the branch's UTC offset as shown ("+05:30").
	Zone            string
	Metrics, Backup Check
	Range           Range
	// Days are the dates of Range that have a document, oldest first.
	Days []DayRow
	// Backups are newest first; the page may show only the newest of
	// them, BackupsTotal being how many there are in all.
	Backups      []Backup
	BackupsTotal int
	// AllBackupsURL shows every backup ("" when all are shown).
	AllBackupsURL string
	BadDocs       []BadDocument
	// CSVURL downloads the same branch and range as CSV.
	CSVURL string
}

// RangeTotals sums the figures of every day shown; non-additive fields
// (identity, dates) are left empty.
func (p BranchPage) RangeTotals() metrics.Document {
	var t metrics.Document
	for _, d := range p.Days {
		AddFigures(&t, d.Doc)
	}
	return t
}

// AddFigures adds d's figures into sum.
func AddFigures(sum *metrics.Document, d metrics.Document) {
	sum.TotalBills += d.TotalBills
	sum.RefundCount += d.RefundCount
	sum.GrossRevenue += d.GrossRevenue
	sum.DiscountAmount += d.DiscountAmount
	sum.RefundAmount += d.RefundAmount
	sum.NetRevenue += d.NetRevenue
	sum.CGSTCollected += d.CGSTCollected
	sum.SGSTCollected += d.SGSTCollected
	sum.TotalTax += d.TotalTax
	sum.CashCollected += d.CashCollected
	sum.DigitalCollected += d.DigitalCollected
	sum.ActualServiceCOGS += d.ActualServiceCOGS
	sum.ActualProductCOGS += d.ActualProductCOGS
	sum.TotalCOGS += d.TotalCOGS
	sum.TotalExpenses += d.TotalExpenses
	sum.GrossProfit += d.GrossProfit
	sum.NetProfit += d.NetProfit
	sum.TotalTips += d.TotalTips
}

// CompareRow is one branch's sums over the compare page's range.
type CompareRow struct {
	Rank int
	ID   string
	Name string
	// Days is the number of dates with a document in the range.
	Days       int
	NetRevenue int64
	Bills      int64
	NetProfit  int64
}

// Add counts one day's document into the row.
func (r *CompareRow) Add(d metrics.Document) {
	r.Days++
	r.NetRevenue += d.NetRevenue
	r.Bills += d.TotalBills
	r.NetProfit += d.NetProfit
}

// AvgNetRevenue is net revenue per reported day, in paise (0 with no days).
func (r CompareRow) AvgNetRevenue() int64 { return perDay(r.NetRevenue, r.Days) }

// AvgNetProfit is net profit per reported day, in paise.
func (r CompareRow) AvgNetProfit() int64 { return perDay(r.NetProfit, r.Days) }

// AvgBills is bills per reported day.
func (r CompareRow) AvgBills() float64 {
	if r.Days == 0 {
		return 0
	}
	return float64(r.Bills) / float64(r.Days)
}

func perDay(v int64, days int) int64 {
	if days == 0 {
		return 0
	}
	return v / int64(days)
}

// RankRows orders rows by net revenue, highest first, and numbers them;
// equal revenues share a rank (1, 2, 2, 4).
func RankRows(rows []CompareRow) {
	slices.SortStableFunc(rows, func(a, b CompareRow) int {
		if c := cmp.Compare(b.NetRevenue, a.NetRevenue); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i := range rows {
		if i > 0 && rows[i].NetRevenue == rows[i-1].NetRevenue {
			rows[i].Rank = rows[i-1].Rank
		} else {
			rows[i].Rank = i + 1
		}
	}
}

// BranchChoice is one branch offered by the compare page's picker.
type BranchChoice struct {
	ID, Name string
	Selected bool
}

// ComparePage is branches side by side over one range.
type ComparePage struct {
	Now   time.Time
	Sync  SyncStatus
	Range Range
	// Choices are every known branch, those compared marked Selected.
	Choices []BranchChoice
	// Selection is true when only some branches are compared (none
	// picked compares them all).
	Selection bool
	// Ignored is how many requested ids named no known branch.
	Ignored int
	// Rows are the compared branches, ranked (see RankRows).
	Rows []CompareRow
	// Total sums every row; its Days is the sum of the rows' days.
	Total CompareRow
	// CSVURL downloads the same selection as CSV.
	CSVURL string
}

// AlertsPage is the current problems and the recent alert history.
type AlertsPage struct {
	Now      time.Time
	Sync     SyncStatus
	Problems []Problem
	// History is newest first.
	History []AlertEvent
}

// ErrorPage is shown for a missing page or a failed request.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
}
