// Package statusreport keeps the agent status document
// ({branch}/agent/status.json, shared/agentstatus) up to date while the
// daemon runs: after every job and every round of configuration checks it
// overwrites the object, at most once a minute (a change inside the minute
// is written when the minute is up, so the last state always arrives).
package statusreport

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// MinInterval is the least time between two writes.
const MinInterval = time.Minute

// writeTimeout bounds one write.
const writeTimeout = 30 * time.Second

// Putter writes an object (store.Store is one).
type Putter interface {
	Put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.ObjectInfo, error)
}

// Config configures a Reporter.
type Config struct {
	BranchID     string
	AgentVersion string
	// Instance is the agent's instance id (package instance), written in
	// the document ("" writes none).
	Instance string
	Store    Putter
	// Clock stamps the document (the daemon's clock).
	Clock clockwork.Clock
	// Limiter times the rate limit and the delayed write; Clock when nil,
	// as the daemon leaves it, so that on a simulated clock
	// (BRANCHWATCH_CLOCK_RATE) a minute is a simulated minute. Tests that
	// count a fake clock's waiters pass a real clock.
	Limiter clockwork.Clock
	// NextRun is a job's next run (nil or an error: none shown).
	NextRun func(job string) (time.Time, error)
	// FreeBytes is BACKUP_DIR's free space (nil or an error: unknown).
	FreeBytes func() (uint64, error)
	// Redact removes secrets from an error line (DATABASE_URL's password).
	Redact func(string) string
	// Location is the branch's zone, for the document's times.
	Location *time.Location
	Logger   *slog.Logger
	// OnWrite, when set, is called after each write attempt (tests).
	OnWrite func(err error)
}

// Reporter collects the agent's state and writes the document. Its
// methods are safe for concurrent use; a nil Reporter (local-only mode)
// records nothing.
type Reporter struct {
	cfg Config
	ctx context.Context // ends the delayed writes

	mu        sync.Mutex
	jobs      map[string]agentstatus.Job
	checks    []agentstatus.CheckResult
	failing   []string
	server    string
	pgDump    string
	lastDump  *int64
	lastWrite time.Time
	pending   clockwork.Timer
	closed    bool
}

// New returns a Reporter; writes delayed by the rate limit stop when ctx ends.
func New(ctx context.Context, cfg Config) *Reporter {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Limiter == nil {
		cfg.Limiter = cfg.Clock
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Redact == nil {
		cfg.Redact = func(s string) string { return s }
	}
	return &Reporter{cfg: cfg, ctx: ctx, jobs: map[string]agentstatus.Job{}}
}

// JobDone records one attempt of job that started at start and writes.
// size is the dump's size for a backup (0: not a dump).
func (r *Reporter) JobDone(job string, start time.Time, size int64, err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	j := r.jobs[job]
	j.LastAttempt = r.stamp(start)
	j.LastError = ""
	if err != nil {
		j.LastError = OneLine(r.cfg.Redact(err.Error()))
	} else {
		j.LastSuccess = r.stamp(r.cfg.Clock.Now())
		if size > 0 {
			r.lastDump = &size
		}
	}
	r.jobs[job] = j
	r.mu.Unlock()
	r.Flush()
}

// Checked records a round of configuration checks and writes.
func (r *Reporter) Checked(results []agentstatus.CheckResult) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.checks = results
	r.failing = nil
	for _, c := range results {
		if c.Status == agentstatus.CheckFail {
			r.failing = append(r.failing, c.Setting+": "+c.Detail)
		}
	}
	r.mu.Unlock()
	r.Flush()
}

// SetVersions records PostgreSQL's and pg_dump's versions ("" keeps the
// one known).
func (r *Reporter) SetVersions(server, pgDump string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if server != "" {
		r.server = server
	}
	if pgDump != "" {
		r.pgDump = pgDump
	}
}

// Status is the document as of now.
func (r *Reporter) Status() agentstatus.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status()
}

func (r *Reporter) status() agentstatus.Status { // r.mu held
	s := agentstatus.New(r.cfg.BranchID, r.cfg.AgentVersion, r.cfg.Clock.Now().In(r.cfg.Location), r.failing)
	s.ServerVersion, s.PGDumpVersion = r.server, r.pgDump
	s.Instance = r.cfg.Instance
	if r.cfg.NextRun != nil { // a stopped scheduler has none: keep the last known
		for name, j := range r.jobs {
			if t, err := r.cfg.NextRun(name); err == nil && !t.IsZero() {
				j.NextRun = r.stamp(t)
				r.jobs[name] = j
			}
		}
	}
	s.Jobs = maps.Clone(r.jobs)
	if r.cfg.FreeBytes != nil {
		if free, err := r.cfg.FreeBytes(); err == nil {
			f := int64(min(free, 1<<62))
			s.BackupDirFreeBytes = &f
		}
	}
	s.LastDumpSize = r.lastDump
	s.Doctor = r.checks
	return s
}

// Probe is the document the doctor's bucket check writes (it proves the
// bucket writable): the current state with the checks failing so far in
// this round, and without the last round's results. It counts as a write
// for the rate limit.
func (r *Reporter) Probe(failing []string) agentstatus.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status()
	// A round is under way: the last round's results would contradict
	// the checks failing so far (a fixed setting still listed as failing
	// until the round's own write, a minute later under the rate limit).
	s.Doctor = nil
	s.Checks, s.Failing = agentstatus.ChecksOK, nil
	if len(failing) > 0 {
		s.Checks, s.Failing = agentstatus.ChecksFailing, failing
	}
	r.lastWrite = r.cfg.Limiter.Now()
	return s
}

// Flush writes the document now, or when a minute has passed since the
// last write (one delayed write at a time, which sends the state of then).
func (r *Reporter) Flush() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil || r.closed {
		return // the delayed write will send this state too
	}
	wait := r.lastWrite.Add(MinInterval).Sub(r.cfg.Limiter.Now())
	if r.lastWrite.IsZero() || wait <= 0 {
		r.write()
		return
	}
	r.pending = r.cfg.Limiter.AfterFunc(wait, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.pending = nil
		if r.ctx.Err() == nil {
			r.write()
		}
	})
}

// write puts the document (r.mu held: writes never overlap or reorder).
func (r *Reporter) write() {
	r.lastWrite = r.cfg.Limiter.Now()
	key, err := layout.AgentStatusKey(r.cfg.BranchID)
	if err != nil {
		r.cfg.Logger.Warn("agent status not written", "err", err)
		return
	}
	doc, err := r.status().Marshal()
	if err != nil {
		r.cfg.Logger.Warn("agent status not written", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), writeTimeout)
	defer cancel()
	_, err = r.cfg.Store.Put(ctx, key, bytes.NewReader(doc), store.PutOptions{Size: int64(len(doc)), ContentType: agentstatus.ContentType})
	if err != nil {
		r.cfg.Logger.Warn("agent status not written", "key", key, "err", err)
	}
	if r.cfg.OnWrite != nil {
		r.cfg.OnWrite(err)
	}
}

func (r *Reporter) stamp(t time.Time) string { return t.In(r.cfg.Location).Format(time.RFC3339) }

// OneLine is the first line of s, bounded to agentstatus.MaxLineBytes.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " ..."
	}
	if len(s) > agentstatus.MaxLineBytes {
		s = strings.ToValidUTF8(s[:agentstatus.MaxLineBytes-4], "") + " ..."
	}
	return s
}

// Close sends a write the rate limit still holds back (the daemon's last
// state); later calls record but no longer write.
func (r *Reporter) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil && r.pending.Stop() {
		r.write()
	}
	r.pending = nil
	r.closed = true
}
