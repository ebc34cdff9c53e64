package syncer

import (
	"context"
	"strings"

	"github.com/branchwatch/branchwatch/shared/store"
)

// walkBucket lists the whole bucket once, in key order, and hands each
// branch of works its objects as soon as the listing has passed them, so
// that downloads start while the listing goes on. It lists every object
// exactly once, with no overlap between branches. A prefix that is not a
// branch and runs past the end of a page is skipped with a new listing
// that starts after it. It returns the ids it handed over; on error, the
// branches not handed over were not (completely) listed.
func (s *Syncer) walkBucket(ctx context.Context, works map[string]*branchWork, done func(*branchWork, []store.ObjectInfo)) (map[string]bool, error) {
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
	for {
		page, err := s.st.List(ctx, opts)
		if err != nil {
			return handed, &OpError{What: "list " + s.o.BucketName, Err: err}
		}
		skip := ""
		for i, o := range page.Objects {
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
			for id, w := range works {
				if !handed[id] {
					handed[id] = true
					done(w, nil)
				}
			}
			return handed, nil
		default:
			opts.Token = page.NextToken
		}
	}
}
