package syncer

import (
	"context"
	"errors"
	"sort"
	"strings"
	gosync "sync"

	"github.com/branchwatch/branchwatch/shared/store"
)

// maxWalkSegments bounds the listings walkBucket runs at once, and
// branchesPerSegment is the fewest branches worth a listing of their own.
const (
	maxWalkSegments    = 8
	branchesPerSegment = 10
)

// walkBucket lists the whole bucket once, in key order, and hands each
// branch of works its objects as soon as the listing has passed them, so
// that downloads start while the listing goes on. It lists every object
// exactly once, with no overlap between branches. The bucket is cut at
// branch boundaries into up to maxWalkSegments key ranges listed side by
// side (each listing waits a round trip per page: a bucket of thousands
// of branches × years of documents is thousands of pages). A prefix that
// is not a branch and runs past the end of a page is skipped with a new
// listing that starts after it. It returns the ids it handed over; on
// error, the branches not handed over were not (completely) listed.
func (s *Syncer) walkBucket(ctx context.Context, works map[string]*branchWork, done func(*branchWork, []store.ObjectInfo)) (map[string]bool, error) {
	ids := make([]string, 0, len(works))
	for id := range works {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	n := min(maxWalkSegments, max(1, len(ids)/branchesPerSegment))
	// Segment i lists the keys from bounds[i] (inclusive) up to
	// bounds[i+1] (exclusive, "" for the end of the bucket).
	bounds := make([]string, n+1)
	for i := 1; i < n; i++ {
		bounds[i] = ids[i*len(ids)/n] + "/"
	}
	handed := map[string]bool{}
	var (
		mu   gosync.Mutex
		errs []error
		wg   gosync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			h, err := s.walkRange(ctx, works, bounds[i], bounds[i+1], done)
			mu.Lock()
			defer mu.Unlock()
			for id := range h {
				handed[id] = true
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return handed, errors.Join(errs...)
	}
	for id, w := range works {
		if !handed[id] {
			handed[id] = true
			done(w, nil)
		}
	}
	return handed, nil
}

// walkRange lists the keys from lo (inclusive; "" from the start) up to hi
// (exclusive; "" to the end) and hands over each branch it passes.
func (s *Syncer) walkRange(ctx context.Context, works map[string]*branchWork, lo, hi string, done func(*branchWork, []store.ObjectInfo)) (map[string]bool, error) {
	handed := map[string]bool{}
	var cur *branchWork
	var objs []store.ObjectInfo
	flush := func() {
		if cur != nil {
			handed[cur.id] = true
			done(cur, objs)
		}
		cur, objs = nil, nil
	}
	opts := store.ListOptions{MaxKeys: 1000}
	if lo != "" {
		// Just before lo: '.' sorts right before '/', and no key of a
		// branch (a-z 0-9 -) falls between "id." and "id/".
		opts.StartAfter = strings.TrimSuffix(lo, "/") + "."
	}
	for {
		page, err := s.st.List(ctx, opts)
		if err != nil {
			return handed, &OpError{What: "list " + s.o.BucketName, Err: err}
		}
		skip := ""
		for i, o := range page.Objects {
			if hi != "" && o.Key >= hi {
				flush()
				return handed, nil
			}
			top, _, nested := strings.Cut(o.Key, "/")
			var w *branchWork
			if nested {
				w = works[top]
			}
			if w != cur {
				flush()
				cur = w
			}
			if w != nil {
				objs = append(objs, o)
				continue
			}
			// Not a branch: skip the rest of its prefix when it runs past
			// this page ('0' follows '/': every key under "top/" sorts
			// before "top0").
			if nested && i == len(page.Objects)-1 && page.NextToken != "" {
				skip = top + "0"
			}
		}
		switch {
		case skip != "":
			opts = store.ListOptions{StartAfter: skip, MaxKeys: 1000}
		case page.NextToken == "":
			flush()
			return handed, nil
		default:
			opts.Token = page.NextToken
		}
	}
}
