// Package backup takes one trustworthy backup of the branch database: dump
// with pg_dump, check the dump before trusting it, promote it under its
// final name, upload it and confirm the upload, upload local dumps that
// never reached the bucket, and apply local retention. Two backups never run
// at once for the same directory.
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/smithy-go"

	"github.com/branchwatch/branchwatch/agent/internal/dirlock"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// AgentVersion goes into each upload's metadata; package cli sets it to
// its build-time version.
var AgentVersion = "dev"

// DefaultLockWaitTimeout is how long pg_dump waits for a table that
// someone else holds locked (pg_dump --lock-wait-timeout).
const DefaultLockWaitTimeout = 10 * time.Minute

// LockName is the lock file in BACKUP_DIR held for a whole backup.
const LockName = ".backup.lock"

// Result describes one backup.
type Result struct {
	Path     string // the promoted local dump
	Key      string // the bucket key; "" in local-only mode or when not uploaded
	Size     int64  // of the local dump
	SHA256   string // of the local dump, lower-case hex
	Started  time.Time
	Duration time.Duration
	Uploaded bool   // the object is confirmed (size and checksum read back)
	Manifest string // the key of the dump's manifest, once uploaded

	Name           string          // file name of the dump
	ServerVersion  pgtools.Version // of the database server
	Encrypted      bool            // the uploaded object is age-encrypted
	CaughtUp       []string        // older local dumps uploaded by this run
	Pruned         []string        // local dumps removed by retention
	AbortedUploads int             // unfinished uploads of earlier runs aborted
}

// Runner takes backups. Create it with New; it is safe to call Run again
// after it returned, not concurrently (the second call fails on the lock).
type Runner struct {
	opts    options.Options
	st      store.Store // nil: local-only
	log     *slog.Logger
	finder  pgtools.Finder
	conn    pgtools.Conn
	prefix  string            // the branch's backups prefix in the bucket
	query   summary.Query     // the day's figures for the manifest
	finalAt summary.TimeOfDay // when a day's summary is final
	// branchPrefix is "<branch>/", where the bucket check lists.
	branchPrefix string

	// Now is the clock (the dump's name is its time in the branch's zone).
	Now func() time.Time
	// Instance is this agent's instance id, put in each dump's metadata
	// (instance.MetadataKey); "" puts none.
	Instance string
	// FreeSpace reports the bytes available to this user in dir.
	FreeSpace func(dir string) (uint64, error)
	// OnDumpStart, if set, is called with pg_dump's process id once it runs.
	OnDumpStart func(pid int)
	// OnSnapshot, if set, is called once the dump's snapshot is exported,
	// before pg_dump starts.
	OnSnapshot func(id string)
	// KeepLocalOnBucketError (the daemon) takes the dump even when the
	// bucket check before it fails, so that a night with a broken bucket
	// still leaves a local copy for the catch-up: a permanent error skips
	// the upload and fails the run, a transient one leaves it to the
	// upload's retries. Unset (the one-shot command), the check is retried
	// and a failure ends the run before any dump.
	KeepLocalOnBucketError bool
	// LockWaitTimeout is how long pg_dump waits for a table lock before it
	// fails (DefaultLockWaitTimeout when 0).
	LockWaitTimeout time.Duration
	// AbortUploadsOlderThan is the age above which unfinished uploads under
	// the branch's backups prefix are aborted at the start of a run. Zero
	// aborts them all: a run holds the lock, so none of them is live.
	AbortUploadsOlderThan time.Duration

	// openFile, when set (tests), opens the files of the dump step instead
	// of os.OpenFile.
	openFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// New checks what can be checked without I/O and returns a Runner. st is
// nil in local-only mode, which New reports once.
func New(o options.Options, st store.Store, logger *slog.Logger) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.BackupDir == "" {
		return nil, errors.New("backup: BACKUP_DIR is empty")
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	conn, err := pgtools.ParseConn(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("backup: DATABASE_URL: %w", err)
	}
	conn = conn.WithSecretsDir(pgtools.SweptSecretsDir(o.BackupDir, logger.With("component", "backup")))
	prefix, err := layout.BackupsPrefix(o.BranchID)
	if err != nil {
		return nil, fmt.Errorf("backup: BRANCH_ID: %w", err)
	}
	branchPrefix, err := layout.BranchPrefix(o.BranchID)
	if err != nil {
		return nil, fmt.Errorf("backup: BRANCH_ID: %w", err)
	}
	if o.MinDumpBytes <= 0 {
		o.MinDumpBytes = options.DefaultMinDumpBytes
	}
	q := summary.DefaultQuery()
	if o.MetricsQueryFile != "" {
		if q, err = summary.LoadQueryFile(o.MetricsQueryFile); err != nil {
			return nil, fmt.Errorf("backup: %s: %w", options.EnvMetricsQueryFile, err)
		}
	}
	r := &Runner{
		query:        q,
		finalAt:      summary.FinalTimeFromSchedule(o.SummarySchedule),
		opts:         o,
		st:           st,
		log:          logger.With("component", "backup"),
		finder:       pgtools.NewFinder(o.PGDumpPath, options.EnvPGDumpPath),
		conn:         conn,
		prefix:       prefix,
		Now:          time.Now,
		FreeSpace:    FreeSpace,
		branchPrefix: branchPrefix,
	}
	if st == nil {
		r.log.Info("no S3 settings: backups stay local", "dir", o.BackupDir)
	} else if o.Encrypted() {
		r.log.Info("uploads are age-encrypted", "recipients", len(o.EncryptionRecipients))
	}
	return r, nil
}

// Run takes one full backup: check the bucket, dump, check, promote,
// upload and confirm, catch-up uploads, local retention. Retention runs
// only when everything before it succeeded; a failed catch-up upload fails
// the run (the new dump is then uploaded all the same: Result.Uploaded says
// so). With a jobretry.Retrier in ctx, the bucket check (see
// KeepLocalOnBucketError), the upload and the catch-up are tried again
// after transient failures; the dump is made once.
// Cancelling ctx kills pg_dump, removes its temporary file and aborts an
// upload in flight. The Result is filled as far as the run got, also on
// error.
func (r *Runner) Run(ctx context.Context) (res Result, err error) {
	res.Started = r.Now()
	began := time.Now() // monotonic, whatever Now is
	defer func() {
		res.Duration = time.Since(began)
		if err != nil {
			r.log.Error("backup failed", "error", err, "dump", res.Path, "duration", res.Duration.String())
		}
	}()
	lock, err := dirlock.Acquire(r.opts.BackupDir, LockName, "backup")
	if err != nil {
		var le *dirlock.LockedError
		if errors.As(err, &le) {
			return res, fmt.Errorf("backup: another backup is running in %s: %w", r.opts.BackupDir, err)
		}
		return res, fmt.Errorf("backup: %w", err)
	}
	defer lock.Release()

	r.removeStaleTemp()
	// A missing bucket or a refused key is found before the dump, by one
	// cheap request.
	rt := jobretry.FromContext(ctx)
	var bucketErr error // permanent: the dump stays local
	if r.st != nil {
		check := func(ctx context.Context) error { return store.CheckAccess(ctx, r.st, r.branchPrefix) }
		if !r.KeepLocalOnBucketError {
			// One-shot: an outage is waited out (job retries) and a
			// permanent error ends the run, both before any dump.
			if err := rt.Do(ctx, "check bucket", check); err != nil {
				return res, fmt.Errorf("backup: %w", err)
			}
		} else if err := check(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("the bucket check failed before the dump: the dump is taken all the same and kept locally", "error", err)
			if jobretry.Permanent(err) {
				bucketErr = err
			}
		}
	}
	d, err := r.dump(ctx, res.Started)
	if err != nil {
		return res, err
	}
	res.Path, res.Name, res.Size, res.SHA256, res.ServerVersion = d.path, d.name, d.size, d.sha256, d.server
	r.log.Info("dump checked and promoted", "dump", d.path, "size", d.size, "sha256", d.sha256,
		"tables", d.tables, "pg_dump", d.tool.Version.String(), "server", d.server.String(),
		"counting_duration", d.measured.counting.String())

	if bucketErr != nil {
		return res, fmt.Errorf("backup: dump kept locally, not uploaded: %w", bucketErr)
	}
	if r.st != nil {
		res.Encrypted = r.opts.Encrypted()
		res.AbortedUploads = r.abortUnfinished(ctx)
		// The dump was made and checked once; only its upload is tried
		// again after a transient failure.
		var up store.ObjectInfo
		err := rt.Do(ctx, "upload", func(ctx context.Context) (err error) {
			up, err = r.upload(ctx, d.local())
			return err
		})
		if err != nil {
			return res, err
		}
		res.Key, res.Uploaded = up.Key, true
		err = rt.Do(ctx, "manifest", func(ctx context.Context) (err error) {
			res.Manifest, err = r.uploadManifest(ctx, d.manifest, up)
			return err
		})
		if err != nil {
			return res, err
		}
		err = rt.Do(ctx, "catch-up uploads", func(ctx context.Context) error {
			caught, err := r.catchUp(ctx, d.name, d.restore)
			res.CaughtUp = append(res.CaughtUp, caught...)
			return err
		})
		if err != nil {
			return res, err
		}
	}
	res.Pruned, err = r.applyRetention(res.Started)
	if err != nil {
		return res, err
	}
	r.log.Info("backup done", "dump", res.Path, "key", res.Key, "uploaded", res.Uploaded,
		"caught_up", len(res.CaughtUp), "pruned", len(res.Pruned))
	return res, nil
}

// abortUnfinished aborts multipart uploads left by killed runs. A failure
// here is logged only: the upload that follows reports the real trouble.
func (r *Runner) abortUnfinished(ctx context.Context) int {
	n, err := AbortUnfinished(ctx, r.st, r.prefix, r.AbortUploadsOlderThan)
	if err != nil {
		r.log.Warn("could not abort unfinished uploads", "prefix", r.prefix, "error", err)
	} else if n > 0 {
		r.log.Info("aborted unfinished uploads of an earlier run", "prefix", r.prefix, "count", n)
	}
	return n
}

// AbortUnfinished aborts the multipart uploads under prefix older than
// olderThan, when the store has such a thing, and says how many it aborted.
func AbortUnfinished(ctx context.Context, st store.Store, prefix string, olderThan time.Duration) (int, error) {
	uc, ok := st.(store.UploadCleaner)
	if !ok {
		return 0, nil
	}
	n, err := uc.AbortIncompleteUploads(ctx, prefix, olderThan)
	var ae smithy.APIError
	if store.IsNotFound(err) || errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload" {
		return n, nil // gofakes3 answers a listing without uploads with NoSuchUpload
	}
	return n, err
}

// FreeSpace is the space available to an unprivileged user in dir (statfs).
func FreeSpace(dir string) (uint64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return fs.Bavail * uint64(fs.Bsize), nil
}

// removeStaleTemp deletes temporary files of crashed runs (the lock is held,
// so none of them is being written).
func (r *Runner) removeStaleTemp() {
	matches, _ := filepath.Glob(filepath.Join(r.opts.BackupDir, tempPrefix+"*"))
	for _, m := range matches {
		if err := os.RemoveAll(m); err != nil {
			r.log.Warn("could not remove a stale temporary file", "file", m, "error", err)
			continue
		}
		r.log.Info("removed a stale temporary file of an earlier run", "file", m)
	}
}

// Options are the settings the Runner was built with.
func (r *Runner) Options() options.Options { return r.opts }
