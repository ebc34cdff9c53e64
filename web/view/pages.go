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
	// FutureObjects are the keys of objects dated more than a day past
	// the aggregator's clock (none: nothing to flag); FutureDated is
	// their check, which says why they are ignored.
	FutureObjects []string
	FutureDated   Check
	// Grouping is how the table's rows are grouped (?rows=day|week|month);
	// GroupingURLs link to each grouping of the same range.
	Grouping     Grouping
	GroupingURLs map[Grouping]string
	// Previous compares the range with the period of the same length
	// just before it.
	Previous Comparison
	// Drill is the restore drill check, Drills every drill (newest
	// first); Agent the agent check and its status (nil without one).
	Drill      Check
	Drills     []Drill
	AgentCheck Check
	Agent      *AgentPanel
	// Instances is the check that one agent writes the branch: down when
	// two agent instances share its BRANCH_ID.
	Instances Check
}

// RangeTotals sums the figures of the days shown that count (final ones,
// and provisional ones only when the range asks), each with overflow
// checks; non-additive fields (identity, dates) are left empty.
func (p BranchPage) RangeTotals() FigureTotals {
	var t FigureTotals
	for _, d := range p.Days {
		if p.Range.Counts(d.Doc.IsFinal) {
			t.Add(d.Doc)
		}
	}
	return t
}

// Provisional counts the provisional days shown.
func (p BranchPage) Provisional() int {
	n := 0
	for _, d := range p.Days {
		if !d.Doc.IsFinal {
			n++
		}
	}
	return n
}

// CompareRow is one branch's sums over the compare page's range.
type CompareRow struct {
	Rank int
	ID   string
	Name string
	// Days is the number of dates with a document in the range.
	// NetRevenue, Bills and NetProfit are sums over those days, each
	// unavailable when it overflowed.
	Days       int
	NetRevenue Total
	Bills      Total
	NetProfit  Total
}

// Add counts one day's document into the row.
func (r *CompareRow) Add(d metrics.Document) {
	r.Days++
	r.NetRevenue.Add(d.NetRevenue)
	r.Bills.Add(d.TotalBills)
	r.NetProfit.Add(d.NetProfit)
}

// AddRow adds another row's sums and days (the compare page's total).
func (r *CompareRow) AddRow(o CompareRow) {
	r.Days += o.Days
	r.NetRevenue.AddTotal(o.NetRevenue)
	r.Bills.AddTotal(o.Bills)
	r.NetProfit.AddTotal(o.NetProfit)
}

// AvgNetRevenue is net revenue per reported day, in paise (0 with no days).
func (r CompareRow) AvgNetRevenue() Total { return r.NetRevenue.PerDay(r.Days) }

// AvgNetProfit is net profit per reported day, in paise.
func (r CompareRow) AvgNetProfit() Total { return r.NetProfit.PerDay(r.Days) }

// AvgBills is bills per reported day (meaningless when Bills overflowed).
func (r CompareRow) AvgBills() float64 {
	if r.Days == 0 {
		return 0
	}
	return float64(r.Bills.Value) / float64(r.Days)
}

// RankRows orders rows by net revenue, highest first, and numbers them;
// equal revenues share a rank (1, 2, 2, 4). Rows whose revenue overflowed
// cannot be ranked: they come last, with rank 0.
func RankRows(rows []CompareRow) {
	slices.SortStableFunc(rows, func(a, b CompareRow) int {
		if c := cmp.Compare(b2i(a.NetRevenue.Overflow), b2i(b.NetRevenue.Overflow)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.NetRevenue.Value, a.NetRevenue.Value); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i := range rows {
		switch {
		case rows[i].NetRevenue.Overflow:
			rows[i].Rank = 0
		case i > 0 && rows[i].NetRevenue == rows[i-1].NetRevenue:
			rows[i].Rank = rows[i-1].Rank
		default:
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
	// Total sums every row (see CompareRow.AddRow); its Days is the sum
	// of the rows' days.
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
