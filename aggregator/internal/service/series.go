package service

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
		var read []*index.Branch // the branches to read again
		for _, b := range x.Branches {
			s, ok := sc.by[b.ID]
			if !ok || !s.docs.Equal(&b.Docs) {
				read = append(read, b)
				continue
			}
			by[b.ID], all[b.ID] = s, s.series
		}
		// Reading a branch's series reads each of its documents once (all
		// of them after a restart): spread over the cores.
		series := make([]*business.Branch, len(read))
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(runtime.GOMAXPROCS(0), len(read)) {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(read); i = int(next.Add(1)) - 1 {
					series[i] = branchSeries(read[i])
				}
			})
		}
		wg.Wait()
		for i, b := range read {
			by[b.ID], all[b.ID] = seriesOf{docs: b.Docs, series: series[i]}, series[i]
		}
	}
	sc.x, sc.by, sc.all = x, by, all
	sc.version++
	return all, sc.version
}

// branchSeries is one branch's series, reading its documents in place
// (daysSeries): only the prefix sums are its own, 12 bytes a day. A copy
// of the days, 80 bytes each, cost 440 MiB at 5,000 branches × 3 years
// and most of a restart's first overview in garbage collection.
func branchSeries(b *index.Branch) *business.Branch {
	bs := &business.Branch{ID: b.ID, Days: daysSeries{b.Docs}}
	for i := b.Docs.Len() - 1; i >= 0 && bs.Name == ""; i-- {
		bs.Name = b.Docs.Figures(i).BranchName // the newest name, as business.FromDocuments keeps
	}
	bs.Prepare()
	return bs
}

// daysSeries reads a branch's documents in the index as its
// business.Series (index.Days is immutable and shares its columns).
type daysSeries struct{ d index.Days }

func (s daysSeries) Len() int             { return s.d.Len() }
func (s daysSeries) Date(i int) time.Time { return s.d.Day(i) }
func (s daysSeries) Day(i int) business.Day {
	return business.DayOf(s.d.Day(i), s.d.Figures(i))
}

// FinalNet reads only what business.Branch.Prepare needs.
func (s daysSeries) FinalNet(i int) (bool, int64) { return s.d.FinalNet(i) }
