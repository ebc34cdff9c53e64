// Package service is the aggregator's read side and its refresh loop: it
// owns the current index (synced from the bucket, snapshotted to the data
// directory), judges freshness on read, feeds the alert notifier, and
// answers the API, the CSV export and the dashboard alike.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/datadir"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Options configures a Service.
type Options struct {
	Store  store.Store
	Syncer syncer.Options
	Policy freshness.Policy
	// Location is the zone of a branch without documents.
	Location *time.Location
	// DataDir holds the index snapshot; "" keeps the index in memory only.
	DataDir string
	// ReadOnlySnapshot loads the snapshot but never writes it (the export
	// command, beside a running server).
	ReadOnlySnapshot bool
	RefreshInterval  time.Duration
	FullSyncInterval time.Duration
	// SyncTimeout bounds one sync as a whole (DefaultSyncTimeout when
	// zero): one that overruns is cancelled and counts as failed.
	SyncTimeout time.Duration
	// SyncAlertAfter is how long syncs must have failed before the
	// sync-failure alert goes out (DefaultSyncAlertAfter when zero).
	SyncAlertAfter time.Duration
	// Notifier receives every check after each refresh; nil for none.
	Notifier *alert.Notifier
	Now      func() time.Time
	Logger   *slog.Logger
}

// SyncStatus describes the refreshes so far.
type SyncStatus struct {
	LastAttempt time.Time    `json:"last_attempt,omitzero"`
	LastSuccess time.Time    `json:"last_success,omitzero"`
	LastFull    time.Time    `json:"last_full_sync,omitzero"`
	LastError   string       `json:"last_error,omitempty"`
	LastStats   syncer.Stats `json:"last_stats"`
	// Loaded says an index is being served (from a snapshot or a sync).
	Loaded       bool `json:"loaded"`
	FromSnapshot bool `json:"from_snapshot"`
	Syncs        int  `json:"syncs"`
	Failures     int  `json:"failures"`
	// Problem is the last error in one line for people ("cannot list the
	// bucket salon-backups: access denied"); LastError has the details.
	Problem string `json:"problem,omitempty"`
	// FailingSince is when the syncs began failing (the first failed
	// attempt since the last success); zero while they succeed.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Alerting says the sync-failure alert is raised: syncs have failed
	// for SyncAlertAfter.
	Alerting bool `json:"sync_alert"`
}

// Service is the aggregator's core.
type Service struct {
	o      Options
	syncer *syncer.Syncer
	idx    atomic.Pointer[index.Index]
	sem    chan struct{} // one sync at a time
	series seriesCache

	mu     sync.Mutex
	status SyncStatus
}

// New builds the Service and loads the snapshot from the data directory,
// if any: a restart serves the last index at once.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("service: no store")
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Syncer.Now == nil {
		o.Syncer.Now = o.Now
	}
	if o.Syncer.Location == nil {
		o.Syncer.Location = o.Location
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = DefaultSyncTimeout
	}
	if o.SyncAlertAfter <= 0 {
		o.SyncAlertAfter = DefaultSyncAlertAfter
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Minute
	}
	if o.Syncer.Logger == nil {
		o.Syncer.Logger = o.Logger
	}
	s := &Service{o: o, syncer: syncer.New(o.Store, o.Syncer), sem: make(chan struct{}, 1)}
	if o.DataDir != "" {
		x, err := index.Load(o.DataDir)
		switch {
		case err == nil:
			s.idx.Store(x)
			s.status.Loaded, s.status.FromSnapshot = true, true
			s.status.LastFull, s.status.LastSuccess = x.FullSyncAt, x.SyncedAt
			o.Logger.Info("index snapshot loaded", "branches", len(x.Branches), "documents", x.Documents(), "synced_at", x.SyncedAt)
		case errors.Is(err, index.ErrNoSnapshot):
		default:
			// A damaged snapshot costs one full sync, not the service; it is
			// kept aside for a post-mortem (unless only read, by export).
			if o.ReadOnlySnapshot {
				o.Logger.Warn("index snapshot unreadable; starting from the bucket", "err", err)
				break
			}
			to, merr := datadir.MoveAside(filepath.Join(o.DataDir, index.SnapshotFile), o.Now())
			if merr != nil {
				return nil, fmt.Errorf("index snapshot is damaged (%v) and cannot be moved aside: %w", err, merr)
			}
			o.Logger.Error("index snapshot damaged: moved aside; starting from the bucket", "moved_to", to, "err", err)
		}
	}
	return s, nil
}

// Run refreshes now and then every RefreshInterval until ctx ends; a
// refresh is full when FullSyncInterval has passed since the last full one.
func (s *Service) Run(ctx context.Context) {
	interval := s.o.RefreshInterval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = s.sync(ctx, false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) fullDue() bool {
	x := s.idx.Load()
	return x == nil || x.FullSyncAt.IsZero() || s.o.FullSyncInterval <= 0 || s.o.Now().Sub(x.FullSyncAt) >= s.o.FullSyncInterval
}

// Refresh runs a full sync now (new branches found, every object listed),
// waiting for one already running to finish first.
func (s *Service) Refresh(ctx context.Context) error { return s.sync(ctx, true) }

// RefreshIncremental runs the periodic kind of refresh now: full only
// when one is due.
func (s *Service) RefreshIncremental(ctx context.Context) error { return s.sync(ctx, false) }

// sync runs one sync: full when asked or when one is due (judged once the
// previous sync has finished).
func (s *Service) sync(ctx context.Context, full bool) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	full = full || s.fullDue()
	prev := s.idx.Load()
	start := s.o.Now()
	next, st, err := s.syncWithin(ctx, prev, full)
	if err != nil && next != nil && next != prev {
		// A failed sync is not a good one: after a restart the snapshot's
		// SyncedAt is taken as the last good sync (/readyz, the sync check).
		next.SyncedAt = time.Time{}
		if prev != nil {
			next.SyncedAt = prev.SyncedAt
		}
	}
	if next != nil && next != prev {
		s.idx.Store(next)
	}
	if st.Changed && s.o.DataDir != "" && !s.o.ReadOnlySnapshot && next != nil {
		if serr := index.Save(s.o.DataDir, next); serr != nil {
			s.o.Logger.Error("save index snapshot", "err", serr)
		}
	}
	s.mu.Lock()
	s.status.LastAttempt, s.status.LastStats = start, st
	s.status.Syncs++
	if next != nil {
		s.status.Loaded = true
		s.status.LastFull = next.FullSyncAt
	}
	if err != nil {
		s.status.Failures++
		s.status.LastError, s.status.Problem = err.Error(), explain(err)
		if s.status.FailingSince.IsZero() {
			s.status.FailingSince = start
		}
	} else {
		s.status.LastSuccess, s.status.LastError, s.status.Problem = s.o.Now(), "", ""
		s.status.FailingSince = time.Time{}
	}
	s.mu.Unlock()
	s.observeSync()
	log := s.o.Logger.With("full", st.Full, "branches", st.Branches, "listed", st.Listed, "downloaded", st.Downloaded,
		"new_bad", st.NewBad, "duration", st.Duration.String())
	if err != nil {
		log.Error("sync failed; serving the last good index", "problem", explain(err), "err", err)
	} else {
		log.Info("sync done")
	}
	// A failed sync may have missed what arrived: judging it could raise
	// a false alarm, so alerts wait for a good sync, unless syncs have
	// failed for so long that the states are worth alerting on anyway.
	if err == nil || s.o.Now().Sub(s.LastSync().LastSuccess) >= staleAfter {
		s.Observe()
	}
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// staleAfter is how long syncs may fail before alerts are judged from the
// last good index all the same.
const staleAfter = time.Hour

// Observe judges every check now and hands them to the notifier.
func (s *Service) Observe() {
	if s.o.Notifier == nil {
		return
	}
	var obs []alert.Observation
	for _, b := range s.Branches() {
		for _, c := range b.AlertChecks() {
			obs = append(obs, alert.Observation{Branch: b.ID, BranchName: b.Name, Check: c})
		}
	}
	s.o.Notifier.Observe(obs)
}

// LastSync describes the refreshes so far.
func (s *Service) LastSync() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Index is the index being served (nil before the first sync or
// snapshot). It must not be modified.
func (s *Service) Index() *index.Index { return s.idx.Load() }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.o.Now() }

// Notifier is the alert notifier, or nil.
func (s *Service) Notifier() *alert.Notifier { return s.o.Notifier }
