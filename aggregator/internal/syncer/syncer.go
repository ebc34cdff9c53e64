// Package syncer reads the bucket into an index.Index: it discovers the
// branches, lists each branch's metrics and backups, downloads only the
// documents it has not seen or whose ETag changed (bounded concurrency),
// and validates each as metrics-v1.md "Reading older and newer documents"
// says. It only reads: nothing here writes to or deletes from the bucket.
//
// A full sync discovers branches (one delimiter listing) and lists every
// object of every branch, in one walk over the bucket that hands each
// branch its objects as soon as it is past them (downloads start while the
// walk goes on); a month's documents are read from its monthly bundle
// where one holds them as they are (bundle.go). An incremental sync lists, per known branch,
// only the backups after the newest one known and the metrics documents of
// the last RelistDays days before the newest known: two small listings per
// branch, whatever the bucket holds.
package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// SHA256Meta is the object metadata key holding a dump's checksum.
const SHA256Meta = "sha256"

// Options configures a Syncer.
type Options struct {
	// Expected branches are in the index whether or not the bucket has them.
	Expected []string
	// Concurrency bounds the listings and the downloads in flight (each).
	Concurrency int
	// RelistDays is how far before a branch's newest document an
	// incremental sync re-lists.
	RelistDays int
	// Location is the zone of a branch without documents (UTC when nil):
	// objects dated more than index.FutureSlack past Now in the branch's
	// zone do not move where a refresh starts listing.
	Location *time.Location
	// RequestTimeout bounds each request: a listing page, a HEAD, a
	// download up to its last byte (DefaultRequestTimeout when zero).
	RequestTimeout time.Duration
	// BucketName names the bucket in error messages ("the bucket" when "").
	BucketName string
	Now        func() time.Time
	Logger     *slog.Logger
}

// Syncer turns the bucket into an index.
type Syncer struct {
	st       store.Store
	o        Options
	expected map[string]bool
}

// New returns a Syncer reading st.
func New(st store.Store, o Options) *Syncer {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.RelistDays <= 0 {
		o.RelistDays = 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.BucketName == "" {
		o.BucketName = "the bucket"
	} else {
		o.BucketName = "the bucket " + o.BucketName
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	exp := map[string]bool{}
	for _, id := range o.Expected {
		exp[id] = true
	}
	return &Syncer{st: deadlineStore{Store: st, limit: o.RequestTimeout}, o: o, expected: exp}
}

// Stats describes one sync.
type Stats struct {
	Full       bool
	Branches   int
	Listed     int // objects listed
	Downloaded int // documents fetched alone
	Bundles    int // monthly bundles fetched (see bundle.go)
	FromBundle int // documents taken from those bundles
	NewBad     int // documents found bad by this sync
	Failures   int // listings and downloads that failed
	// Changed says the new index differs from the previous one (worth a
	// new snapshot).
	Changed  bool
	Duration time.Duration
}

// MarshalJSON writes the stats with snake_case keys and the duration in
// seconds (the API's conventions), not Go field names and nanoseconds.
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Full            bool    `json:"full"`
		Branches        int     `json:"branches"`
		Listed          int     `json:"listed"`
		Downloaded      int     `json:"downloaded"`
		NewBad          int     `json:"new_bad"`
		Failures        int     `json:"failures"`
		Changed         bool    `json:"changed"`
		DurationSeconds float64 `json:"duration_seconds"`
	}{s.Full, s.Branches, s.Listed, s.Downloaded, s.NewBad, s.Failures, s.Changed, s.Duration.Seconds()})
}

// jobQueue is the depth of the download queue.
const jobQueue = 1 << 16

// maxReportedErrors bounds the errors joined into Sync's error.
const maxReportedErrors = 5

// Sync reads the bucket against prev (nil: nothing known) and returns the
// new index. It never gives up on the whole sync for one failure: a branch
// whose listing failed keeps its previous state, an object whose download
// failed keeps its previous version, and the error returned names them.
// Only when the branches cannot be discovered is prev returned unchanged.
func (s *Syncer) Sync(ctx context.Context, prev *index.Index, full bool) (*index.Index, Stats, error) {
	start := s.o.Now()
	if prev == nil {
		prev = &index.Index{}
		full = true
	}
	st := Stats{Full: full}
	ids, ignoredPrefixes, err := s.branchSet(ctx, prev, full)
	if err != nil {
		st.Failures++
		st.Duration = s.o.Now().Sub(start)
		return prev, st, fmt.Errorf("discover branches: %w", err)
	}
	works := make([]*branchWork, len(ids))
	for i, id := range ids {
		pb, _ := prev.Branch(id)
		works[i] = &branchWork{id: id, prev: pb, full: full || pb == nil || pb.FullListedAt.IsZero()}
	}

	// A deep queue lets the one walk over the bucket run ahead of the
	// downloads instead of waiting on them: a full sync then takes about
	// the longer of the two, not their sum. The jobs exist anyway (each
	// branch keeps its own), so the queue costs only its pointers.
	jobs := make(chan *fetchJob, max(4*s.o.Concurrency, jobQueue))
	var fetchers sync.WaitGroup
	for range s.o.Concurrency {
		fetchers.Go(func() {
			var buf bytes.Buffer
			for j := range jobs {
				if j.bundle != nil {
					s.fetchBundle(ctx, j, &buf)
				} else {
					s.fetch(ctx, j, &buf)
				}
			}
		})
	}
	var listers errgroup.Group
	listers.SetLimit(s.o.Concurrency)
	if full {
		// One walk over the bucket lists every branch, with no overlap.
		byID := make(map[string]*branchWork, len(works))
		for _, w := range works {
			byID[w.id] = w
		}
		handed, err := s.walkBucket(ctx, byID, func(w *branchWork, objs []store.ObjectInfo) {
			listers.Go(func() error {
				s.listedAll(ctx, w, objs, jobs)
				return nil
			})
		})
		for _, w := range works {
			if err != nil && !handed[w.id] {
				w.listErr = fmt.Errorf("branch %s: %w", w.id, err)
			}
		}
	} else {
		for _, w := range works {
			listers.Go(func() error {
				s.list(ctx, w, jobs)
				return nil
			})
		}
	}
	_ = listers.Wait()
	close(jobs)
	fetchers.Wait()

	now := s.o.Now()
	// A copy: an incremental sync's list is the previous index's.
	next := &index.Index{IgnoredPrefixes: slices.Clone(ignoredPrefixes), FullSyncAt: prev.FullSyncAt, SyncedAt: now}
	var errs []error
	listed := true // every branch listed: the sync saw the whole bucket
	for _, w := range works {
		listed = listed && w.listErr == nil
		b, werrs := s.assemble(w, now, &st)
		errs = append(errs, werrs...)
		if b != nil {
			next.Branches = append(next.Branches, b)
		}
		if w.stray {
			next.IgnoredPrefixes = append(next.IgnoredPrefixes, w.id+"/")
		}
	}
	sortStrings(next.IgnoredPrefixes)
	index.SortBranches(next.Branches)
	st.Branches = len(next.Branches)
	st.Failures += len(errs)
	// A download that failed is retried by later syncs; only a listing
	// that failed leaves the full sync to do again.
	if full && listed {
		next.FullSyncAt = now
		st.Changed = true
	}
	if !slices.Equal(next.IgnoredPrefixes, prev.IgnoredPrefixes) || len(next.Branches) != len(prev.Branches) {
		st.Changed = true
	}
	st.Duration = s.o.Now().Sub(start)
	return next, st, joinErrors(errs)
}

// branchSet is the sorted ids to sync and the top-level prefixes ignored.
func (s *Syncer) branchSet(ctx context.Context, prev *index.Index, full bool) ([]string, []string, error) {
	set := map[string]bool{}
	for id := range s.expected {
		set[id] = true
	}
	var ignored []string
	if full {
		prefixes, err := store.Prefixes(ctx, s.st, "")
		if err != nil {
			return nil, nil, &OpError{What: "list " + s.o.BucketName, Err: err}
		}
		for _, p := range prefixes {
			id := strings.TrimSuffix(p, "/")
			if layout.ValidateBranchID(id) != nil {
				ignored = append(ignored, p)
				continue
			}
			set[id] = true
		}
	} else {
		ignored = prev.IgnoredPrefixes
		for _, b := range prev.Branches {
			set[b.ID] = true
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sortStrings(ids)
	return ids, ignored, nil
}

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) > maxReportedErrors {
		more := fmt.Errorf("and %d more", len(errs)-maxReportedErrors)
		errs = append(errs[:maxReportedErrors:maxReportedErrors], more)
	}
	return errors.Join(errs...)
}
