package view

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// SortKey is how the overview orders its branches.
type SortKey string

// The overview's sort orders.
const (
	// SortState puts the worst check state first, then by name.
	SortState SortKey = "state"
	// SortName orders by display name, then id.
	SortName SortKey = "name"
	// SortRevenue puts the highest latest net revenue first.
	SortRevenue SortKey = "revenue"
)

// SortKeys lists the sort orders in the order the page offers them.
var SortKeys = []SortKey{SortState, SortName, SortRevenue}

// ParseSortKey reads ?sort=; anything unknown gives SortState.
func ParseSortKey(s string) SortKey {
	for _, k := range SortKeys {
		if string(k) == s {
			return k
		}
	}
	return SortState
}

// Label is the sort order in words.
func (k SortKey) Label() string {
	switch k {
	case SortName:
		return "Name"
	case SortRevenue:
		return "Revenue"
	default:
		return "State"
	}
}

// BranchRow is one branch on the overview.
type BranchRow struct {
	ID   string
	Name string
	// Metrics and Backup are the two freshness checks; Drill the
	// restore drill check.
	Metrics, Backup, Drill Check
	// Latest is the latest final business date; zero when the branch has
	// no final document.
	Latest time.Time
	// Reported says the branch has a final document for the headline
	// date; NetRevenue, Bills and NetProfit are that day's (zero when it
	// is missing: figures of another date are never shown as that day's).
	Reported   bool
	NetRevenue int64
	Bills      int64
	NetProfit  int64
	// Expenses of the headline date: a loss day says them as its cause.
	Expenses int64
	// SameWeekday is the day's change against the same weekday a week
	// before; Unusual says in words why the day stands out ("" when not).
	SameWeekday Change
	Unusual     string
	// Spark is the last 30 days' net revenue up to the headline date,
	// laid out (see LayoutSpark).
	Spark SparkShape
	// LastMetricsDate is the latest date with any document, final or not.
	LastMetricsDate time.Time
	// LastBackup is when the latest dump was taken (branch zone); zero when
	// there is none. LastBackupSize is its size in bytes.
	LastBackup     time.Time
	LastBackupSize int64
	// BadDocs counts the branch's unusable metrics documents.
	BadDocs int
}

// State is the worse of the branch's two checks.
func (r BranchRow) State() CheckState { return Worst(r.Metrics.State, r.Backup.State) }

// HasLatest reports whether the branch has figures for the headline date.
func (r BranchRow) HasLatest() bool { return r.Reported }

// Totals sums the overview's rows: the headline date's figures of the
// branches that reported it, and the count of branches per state.
type Totals struct {
	Branches  int
	Reporting int // branches with a final day in the sums
	// NetRevenue, Bills and NetProfit are unavailable when they overflowed.
	NetRevenue Total
	Bills      Total
	NetProfit  Total
	BadDocs    int
	// ByState counts branches by their worse check.
	ByState map[CheckState]int
}

// Sum totals rows.
func Sum(rows []BranchRow) Totals {
	t := Totals{Branches: len(rows), ByState: map[CheckState]int{}}
	for _, r := range rows {
		t.ByState[r.State()]++
		t.BadDocs += r.BadDocs
		if !r.HasLatest() {
			continue
		}
		t.Reporting++
		t.NetRevenue.Add(r.NetRevenue)
		t.Bills.Add(r.Bills)
		t.NetProfit.Add(r.NetProfit)
	}
	return t
}

// SortRows orders rows in place by key; ties fall back to name, then id, so
// the order is stable from one request to the next.
func SortRows(rows []BranchRow, key SortKey) {
	byName := func(a, b BranchRow) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
	slices.SortStableFunc(rows, func(a, b BranchRow) int {
		switch key {
		case SortName:
		case SortRevenue:
			// Branches without a final day sort last.
			if c := cmp.Compare(b2i(b.HasLatest()), b2i(a.HasLatest())); c != 0 {
				return c
			}
			if c := cmp.Compare(b.NetRevenue, a.NetRevenue); c != 0 {
				return c
			}
		default:
			if c := cmp.Compare(b.State().Severity(), a.State().Severity()); c != 0 {
				return c
			}
		}
		return byName(a, b)
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OverviewPage is the dashboard's front page.
type OverviewPage struct {
	Now  time.Time
	Sync SyncStatus
	Sort SortKey
	// Branches are already sorted by Sort.
	Branches []BranchRow
	Totals   Totals
	Headline Headline
	// Problems are the current failing checks, for the alerts banner.
	Problems []Problem
}
