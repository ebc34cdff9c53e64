package dashboard

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"sync"

	"github.com/a-h/templ"

	"github.com/branchwatch/branchwatch/web/view"
)

// cacheKey is everything an overview page depends on: the sync that
// produced the index (and its outcome), the minute (ages and check states
// move with the clock), the sort order and the page (a search is not
// cached).
type cacheKey struct {
	syncs, failures int
	attempt         int64
	minute          int64
	sort            view.SortKey
	page            int
}

// page is one rendered page, as is and gzipped: the overview of 500
// branches is half a megabyte of HTML, a twelfth of that compressed, and
// compressing once per fill costs less than once per request.
type page struct {
	raw, gz []byte
}

// pageCache keeps the rendered overview of the current data, one page per
// sort order. A miss renders under the lock, so a burst of requests after
// a sync renders the page once rather than once per request.
type pageCache struct {
	mu    sync.Mutex
	pages map[cacheKey]page
}

func (pc *pageCache) get(k cacheKey, render func() ([]byte, error)) (page, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if p, ok := pc.pages[k]; ok {
		return p, nil
	}
	raw, err := render()
	if err != nil {
		return page{}, err
	}
	gz, err := gzipBytes(raw)
	if err != nil {
		return page{}, err
	}
	p := page{raw: raw, gz: gz}
	// Drop pages of older data or minutes: at most one per sort order and
	// page stays.
	for old := range pc.pages {
		if dataKey(old) != dataKey(k) {
			delete(pc.pages, old)
		}
	}
	if pc.pages == nil {
		pc.pages = map[cacheKey]page{}
	}
	pc.pages[k] = p
	return p, nil
}

// renderBytes renders a component to a new byte slice (kept by the cache,
// so not a pooled buffer).
func renderBytes(ctx context.Context, t templ.Component) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Render(ctx, &buf); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return buf.Bytes(), nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip page: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip page: %w", err)
	}
	return buf.Bytes(), nil
}
