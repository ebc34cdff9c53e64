package service

import (
	"sync"

	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
)

// seriesCache keeps each branch's business series (its daily figures
// with their prefix sums) from one index to the next: only the branches
// whose documents a sync changed are read again.
type seriesCache struct {
	mu      sync.Mutex
	x       *index.Index
	version uint64
	by      map[string]seriesOf
	all     map[string]*business.Branch
}

// seriesOf is a branch's series and the documents it was read from.
type seriesOf struct {
	docs   index.Days
	series *business.Branch
}

// Series is every branch's business series of the index being served,
// by id, and the series' version: it changes when, and only when, the
// index served changes. The series are shared: they must not be
// modified. Only the branches whose index entry changed since the last
// call are read (compared, not decoded, for the others).
func (s *Service) Series() (map[string]*business.Branch, uint64) {
	x := s.idx.Load()
	sc := &s.series
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.all != nil && sc.x == x {
		return sc.all, sc.version
	}
	by := map[string]seriesOf{}
	all := map[string]*business.Branch{}
	if x != nil {
		by = make(map[string]seriesOf, len(x.Branches))
		all = make(map[string]*business.Branch, len(x.Branches))
		for _, b := range x.Branches {
			s, ok := sc.by[b.ID]
			if !ok || !s.docs.Equal(&b.Docs) {
				s = seriesOf{docs: b.Docs, series: branchSeries(b)}
			}
			by[b.ID], all[b.ID] = s, s.series
		}
	}
	sc.x, sc.by, sc.all = x, by, all
	sc.version++
	return all, sc.version
}

// branchSeries reads one branch's documents into its series (the
// figures and dates only, as business.FromDocuments keeps them).
func branchSeries(b *index.Branch) *business.Branch {
	n := b.Docs.Len()
	bs := &business.Branch{ID: b.ID, Days: make([]business.Day, 0, n)}
	for i := range n {
		d := b.Docs.Figures(i)
		if d.BranchName != "" {
			bs.Name = d.BranchName
		}
		bs.Days = append(bs.Days, business.Day{Date: b.Docs.Day(i), Final: d.IsFinal, NetRevenue: d.NetRevenue,
			NetProfit: d.NetProfit, Expenses: d.TotalExpenses, Bills: d.TotalBills})
	}
	bs.Prepare()
	return bs
}
