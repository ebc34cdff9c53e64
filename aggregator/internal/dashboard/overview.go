package dashboard

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/web/components"
	"github.com/branchwatch/branchwatch/web/view"
)

// overviewData is the overview's work for one sync and one minute, done
// once and shared by every request of that minute: each branch's row
// (checks, headline-date figures, trend, sparkline), each row rendered
// (on its first showing), the orders, the failing checks, the totals, the
// tag groups and the headline. A request only filters, pages and puts
// rendered rows together.
type overviewData struct {
	key      cacheKey // sort and page left zero
	now      time.Time
	rows     []view.BranchRow // by id, as the service lists them
	text     []string         // view.MatchText of each row
	tags     [][]string       // each row's tags (a search reads no row)
	html     []atomic.Pointer[string]
	order    map[view.SortKey][]int
	problems []view.Problem
	totals   view.Totals
	headline view.Headline
	groups   []view.TagGroup
}

// overviewCache keeps the overviewData of the current sync and minute.
// A miss builds under the lock: a burst of requests after a sync builds
// it once.
type overviewCache struct {
	mu   sync.Mutex
	data *overviewData
}

// dataKey is the part of a page's key that the overview's data depend on.
func dataKey(k cacheKey) cacheKey {
	k.sort, k.page = "", 0
	return k
}

func (d *Dashboard) overviewData(now time.Time, k cacheKey) *overviewData {
	oc := &d.rows
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if oc.data != nil && oc.data.key == dataKey(k) {
		return oc.data
	}
	oc.data = d.buildOverview(now, dataKey(k))
	return oc.data
}

// buildOverview turns every branch's status and business reading into its
// overview row, and works out what the pages share.
func (d *Dashboard) buildOverview(now time.Time, k cacheKey) *overviewData {
	statuses := d.svc.Branches()
	rd := d.reading(statuses)
	od := &overviewData{key: k, now: now, headline: rd.headline,
		rows: make([]view.BranchRow, 0, len(statuses)), text: make([]string, 0, len(statuses)), tags: make([][]string, 0, len(statuses))}
	for _, b := range statuses {
		r := view.BranchRow{ID: b.ID, Name: b.Name, Metrics: check(b.Metrics), Backup: check(b.Backup), Drill: check(b.Drill),
			BadDocs: b.BadDocuments, Tags: d.tags[b.ID]}
		if b.Latest != nil {
			r.Latest = businessDate(b.Latest.SummaryDate)
		}
		if biz, ok := rd.rows[b.ID]; ok {
			r.Reported, r.NetRevenue, r.Bills, r.NetProfit, r.Expenses = biz.Reported, biz.NetRevenue, biz.Bills, biz.NetProfit, biz.Expenses
			r.SameWeekday, r.Unusual, r.Spark = biz.SameWeekday, biz.Unusual, biz.Spark
		}
		r.LastMetricsDate = businessDate(b.LastMetricsDate)
		if b.LastBackup != nil {
			r.LastBackup, r.LastBackupSize = inZone(b.LastBackup.Time, b.Location), b.LastBackup.Size
		}
		for _, c := range b.AlertChecks() {
			if c.State != freshness.Up {
				r.Failing++
				od.problems = append(od.problems, problem(b.ID, b.Name, c.Name, c.State, c.Since, c.Reason, b.Location))
			}
		}
		od.rows = append(od.rows, r)
		od.text = append(od.text, view.MatchText(r))
		od.tags = append(od.tags, r.Tags)
	}
	od.html = make([]atomic.Pointer[string], len(od.rows))
	od.order = make(map[view.SortKey][]int, len(view.SortKeys))
	for _, key := range view.SortKeys {
		od.order[key] = view.SortOrder(od.rows, key)
	}
	od.totals = view.Sum(od.rows)
	od.groups = tagGroups(od.rows)
	return od
}

// tagGroups sums the rows by tag, tags in name order.
func tagGroups(rows []view.BranchRow) []view.TagGroup {
	byTag := map[string]*view.TagGroup{}
	for i := range rows {
		r := &rows[i]
		for _, t := range r.Tags {
			g := byTag[t]
			if g == nil {
				g = &view.TagGroup{Tag: t, Totals: view.NewTotals()}
				byTag[t] = g
			}
			g.Totals.Add(r)
			if r.Problem() {
				g.Problems++
			}
		}
	}
	groups := make([]view.TagGroup, 0, len(byTag))
	for _, g := range byTag {
		groups = append(groups, *g)
	}
	slices.SortFunc(groups, func(a, b view.TagGroup) int { return strings.Compare(a.Tag, b.Tag) })
	return groups
}

// rowHTML is row i rendered, rendering it on its first showing: a page
// of 100 rows costs the rendering of those it has not shown yet this
// minute, and nothing more.
func (od *overviewData) rowHTML(ctx context.Context, i int) (string, error) {
	if p := od.html[i].Load(); p != nil {
		return *p, nil
	}
	s, err := components.BranchRowHTML(ctx, od.now, od.rows[i])
	if err != nil {
		return "", err
	}
	od.html[i].Store(&s)
	return s, nil
}

// page is one page of the overview: the branches matching q in the order
// of sort, page by page (1-based, clamped), with the totals of every
// matching branch.
func (od *overviewData) page(ctx context.Context, sync view.SyncStatus, sort view.SortKey, q string, page int) (view.OverviewPage, error) {
	order := od.order[sort]
	search := view.ParseSearch(q)
	totals := od.totals
	if !search.Blank() {
		matching := make([]int, 0, len(order)/8)
		for _, i := range order {
			if search.Match(od.text[i], od.tags[i]) {
				matching = append(matching, i)
			}
		}
		order = matching
		totals = view.NewTotals()
		for _, i := range matching {
			totals.Add(&od.rows[i])
		}
	}
	p := view.OverviewPage{Now: od.now, Sync: sync, Sort: sort, Query: q, Matching: len(order), AllBranches: len(od.rows),
		Totals: totals, Headline: od.headline, Problems: od.problems, Groups: od.groups, Pages: view.Pages(len(order))}
	var lo, hi int
	p.Page, lo, hi = view.PageBounds(len(order), page)
	p.Branches = make([]view.BranchRow, 0, hi-lo)
	p.Rendered = make([]string, 0, hi-lo)
	for _, i := range order[lo:hi] {
		html, err := od.rowHTML(ctx, i)
		if err != nil {
			return view.OverviewPage{}, err
		}
		p.Branches = append(p.Branches, od.rows[i])
		p.Rendered = append(p.Rendered, html)
	}
	return p, nil
}
