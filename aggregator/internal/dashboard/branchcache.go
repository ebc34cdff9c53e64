package dashboard

import (
	"sync"
)

// DefaultBranchPageBytes bounds the rendered branch pages kept in memory:
// a 90-day page is about 310 KB, so this holds every branch's page of one
// range for 500 branches (the load), and the pages most asked for
// of a larger estate.
const DefaultBranchPageBytes = 192 << 20

// branchKey is everything a branch page depends on: the data served and
// the minute (the key of the overview's data, which ages and check states
// move with), the branch, and the query as sent (range, rows, backups).
type branchKey struct {
	data  cacheKey
	id    string
	query string
}

// branchPage is one rendered branch page; it is gzipped on its first
// request from a client that takes gzip.
type branchPage struct {
	raw    []byte
	gzOnce sync.Once
	gz     []byte
	gzErr  error
}

func (p *branchPage) gzipped() ([]byte, error) {
	p.gzOnce.Do(func() { p.gz, p.gzErr = gzipBytes(p.raw) })
	return p.gz, p.gzErr
}

// size is what the page holds: the page, and its gzip once made (counted
// as a tenth of the page, about what it comes to, when the page is put in).
func (p *branchPage) size() int64 { return int64(len(p.raw)) + int64(len(p.raw))/10 }

// branchCache keeps rendered branch pages of the current data and
// minute, at most max bytes of them: a page of another sync or minute is
// dropped when a page of the new one is put in; past the bound the
// oldest pages go first. A miss renders outside the lock (two requests
// for the same new page may both render it).
type branchCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	data  cacheKey
	pages map[branchKey]*branchPage
	order []branchKey // first put first
}

func (bc *branchCache) get(k branchKey) *branchPage {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.pages[k]
}

// put keeps raw as the page of k and returns it.
func (bc *branchCache) put(k branchKey, raw []byte) *branchPage {
	p := &branchPage{raw: raw}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.pages != nil && older(k.data, bc.data) {
		// A request that began before the sync or minute of the pages
		// kept: served, not kept (it would drop the newer pages).
		return p
	}
	if bc.data != k.data || bc.pages == nil {
		bc.data, bc.size, bc.order = k.data, 0, nil
		bc.pages = map[branchKey]*branchPage{}
	}
	if p.size() > bc.max {
		return p
	}
	if old, ok := bc.pages[k]; ok {
		return old
	}
	for bc.size+p.size() > bc.max && len(bc.order) > 0 {
		gone := bc.order[0]
		bc.order = bc.order[1:]
		bc.size -= bc.pages[gone].size()
		delete(bc.pages, gone)
	}
	bc.pages[k] = p
	bc.order = append(bc.order, k)
	bc.size += p.size()
	return p
}

// older reports whether data a is of an earlier sync or minute than b.
func older(a, b cacheKey) bool {
	return a.syncs+a.failures < b.syncs+b.failures || a.minute < b.minute
}
