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
	// SortState puts the problems first (the worst check state, then a
	// failing restore drill, then an unusual day), then by name.
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
	// Failing counts the branch's failing checks that alert (those of
	// the banner: metrics, backup, a restore drill once one ran,
	// future-dated objects, the agent, its instances).
	Failing int
	// Tags are the branch's tags from EXPECTED_BRANCHES (region, format,
	// franchisee...), in the order given; none when it has none.
	Tags []string
}

// Problem reports whether the row needs a look: metrics or backup not
// up, another failing check, or an unusual headline day. The overview
// lists these first.
func (r BranchRow) Problem() bool {
	return r.State() != StateUp || r.Failing > 0 || r.Unusual != ""
}

// problemRank orders rows for the default sort: the worst of metrics and
// backup first, then another failing check, then an unusual day, then
// the rest.
func (r BranchRow) problemRank() int {
	rank := r.State().Severity() * 4
	if r.Failing > 0 {
		rank += 2
	}
	if r.Unusual != "" {
		rank++
	}
	return rank
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
	t := NewTotals()
	for i := range rows {
		t.Add(&rows[i])
	}
	return t
}

// NewTotals is the totals of no row, ready for Add.
func NewTotals() Totals { return Totals{ByState: map[CheckState]int{}} }

// Add counts one row in the totals (made by NewTotals).
func (t *Totals) Add(r *BranchRow) {
	t.Branches++
	t.ByState[r.State()]++
	t.BadDocs += r.BadDocs
	if !r.HasLatest() {
		return
	}
	t.Reporting++
	t.NetRevenue.Add(r.NetRevenue)
	t.Bills.Add(r.Bills)
	t.NetProfit.Add(r.NetProfit)
}

// SortRows orders rows in place by key; ties fall back to name, then id, so
// the order is stable from one request to the next.
func SortRows(rows []BranchRow, key SortKey) {
	order := SortOrder(rows, key)
	sorted := make([]BranchRow, len(rows))
	for i, j := range order {
		sorted[i] = rows[j]
	}
	copy(rows, sorted)
}

// SortOrder is the indices of rows in the order of key (see SortRows),
// leaving rows as they are: one list of rows serves every order.
func SortOrder(rows []BranchRow, key SortKey) []int {
	lower := make([]string, len(rows))
	order := make([]int, len(rows))
	for i, r := range rows {
		lower[i], order[i] = strings.ToLower(r.Name), i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := &rows[i], &rows[j]
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
			if c := cmp.Compare(b.problemRank(), a.problemRank()); c != 0 {
				return c
			}
		}
		if c := strings.Compare(lower[i], lower[j]); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return order
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OverviewPage is the dashboard's front page: one page of the branches
// that match the search and tag, with the totals of all of them.
type OverviewPage struct {
	Now  time.Time
	Sync SyncStatus
	Sort SortKey
	// Query is the search as typed (see ParseSearch); "" for none.
	Query string
	// Page is the page shown (1-based) of Pages pages of at most
	// OverviewPageSize rows; Matching is how many branches match Query,
	// AllBranches how many there are.
	Page, Pages, Matching, AllBranches int
	// Branches are this page's rows, already sorted by Sort.
	Branches []BranchRow
	// Rendered, when as long as Branches, holds each row already rendered
	// (the rows are rendered once per sync and minute, not per request).
	Rendered []string
	// Totals are of every branch matching Query, on every page.
	Totals   Totals
	Headline Headline
	// Problems are the current failing checks, for the alerts banner.
	Problems []Problem
	// Groups summarise each tag (empty when no branch has a tag).
	Groups []TagGroup
}

// TagGroup is one tag's branches on the overview: their totals and how
// many of them need a look.
type TagGroup struct {
	Tag      string
	Totals   Totals
	Problems int
}

// OverviewPageSize is how many branches one overview page lists: a chain
// of thousands of branches reads page by page, problems first.
const OverviewPageSize = 100

// Pages is how many pages n rows take (at least 1).
func Pages(n int) int { return max(1, (n+OverviewPageSize-1)/OverviewPageSize) }

// PageBounds returns the clamped page (1-based) of n rows, and the
// half-open range [lo, hi) of its rows.
func PageBounds(n, page int) (p, lo, hi int) {
	p = min(max(page, 1), Pages(n))
	lo = (p - 1) * OverviewPageSize
	return p, lo, min(n, lo+OverviewPageSize)
}

// Search is a parsed overview search: words that must all appear in a
// branch's id, name or tags (in any case), and tags the branch must carry
// ("tag:mumbai"). A blank search matches every branch.
type Search struct {
	Words, Tags []string
}

// ParseSearch reads the search box: words separated by spaces, each
// either plain text or tag:NAME.
func ParseSearch(q string) Search {
	var s Search
	for _, w := range strings.Fields(strings.ToLower(q)) {
		if t, ok := strings.CutPrefix(w, "tag:"); ok {
			if t != "" {
				s.Tags = append(s.Tags, t)
			}
			continue
		}
		s.Words = append(s.Words, w)
	}
	return s
}

// Blank reports whether the search matches every branch.
func (s Search) Blank() bool { return len(s.Words) == 0 && len(s.Tags) == 0 }

// MatchText is a row's text for searches: id, name and tags in lower
// case, space separated.
func MatchText(r BranchRow) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.ID))
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(r.Name))
	for _, t := range r.Tags {
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(t))
	}
	return b.String()
}

// Match reports whether a row (its MatchText and tags) matches.
func (s Search) Match(text string, tags []string) bool {
	for _, t := range s.Tags {
		if !slices.Contains(tags, t) {
			return false
		}
	}
	for _, w := range s.Words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}
