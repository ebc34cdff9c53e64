package components

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

func itoa(n int) string { return strconv.Itoa(n) }

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// maxBannerProblems is how many problems the overview's banner lists.
const maxBannerProblems = 5

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func sortURL(k view.SortKey, q string) templ.SafeURL { return overviewURL(k, q, 1) }

// overviewURL is the overview sorted by k, searched for q, at page.
func overviewURL(k view.SortKey, q string, page int) templ.SafeURL {
	v := url.Values{"sort": {string(k)}}
	if q != "" {
		v.Set("q", q)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return templ.SafeURL("/?" + v.Encode())
}

// pageSpan says which branches a page lists: "101–200 of 5,000".
func pageSpan(p view.OverviewPage) string {
	count := func(n int) string { return format.Count(int64(n)) }
	matching := max(p.Matching, len(p.Branches))
	if matching == 0 {
		return "0 of " + count(max(p.AllBranches, len(p.Branches)))
	}
	lo := (max(p.Page, 1)-1)*view.OverviewPageSize + 1
	return count(lo) + "–" + count(lo+len(p.Branches)-1) + " of " + count(matching)
}

// BranchRowHTML renders one overview row, for pages that put rows
// rendered once per sync and minute together (view.OverviewPage.Rendered).
func BranchRowHTML(ctx context.Context, now time.Time, r view.BranchRow) (string, error) {
	var b strings.Builder
	if err := branchRow(now, r).Render(ctx, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// sortDirection is the aria-sort value of a sorted column.
func sortDirection(k view.SortKey) string {
	if k == view.SortName {
		return "ascending"
	}
	return "descending"
}

// stateSummary counts branches by state, worst first: "1 down, 2 up".
func stateSummary(t view.Totals) string {
	var parts []string
	for _, s := range []view.CheckState{view.StateDown, view.StateNever, view.StateLate, view.StateUp} {
		if n := t.ByState[s]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+strings.ToLower(s.Word()))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// sortArrow marks the sorted column: ▲ ascending, ▼ descending.
func sortArrow(k view.SortKey) string {
	if sortDirection(k) == "ascending" {
		return "▲"
	}
	return "▼"
}

// syncProblem is the banner's line for a failed sync: the problem in
// words, capitalised, ending with a full stop.
func syncProblem(s view.SyncStatus) string {
	line := s.Problem
	if line == "" {
		line = "The last sync failed: " + s.Error
	}
	if r := []rune(line); len(r) > 0 && r[0] >= 'a' && r[0] <= 'z' {
		line = string(r[0]-'a'+'A') + string(r[1:])
	}
	if !strings.HasSuffix(line, ".") {
		line += "."
	}
	return line
}

func boolText(b bool) string { return strconv.FormatBool(b) }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// bytesOrDash is n in bytes, or a dash for a negative (unknown) size.
func bytesOrDash(n int64) string {
	if n < 0 {
		return "—"
	}
	return format.Bytes(n)
}
