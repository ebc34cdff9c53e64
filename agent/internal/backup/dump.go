package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// tempPrefix marks files being written; a run removes those of crashed runs.
const tempPrefix = ".tmp-"

// dumped is a dump that passed its checks and got its final name.
type dumped struct {
	path, name string
	taken      time.Time
	size       int64
	sha256     string
	server     pgtools.Version
	tool       pgtools.Tool
	restore    pgtools.Tool // pg_restore beside tool
	tables     int
	tocTables  []string // "schema.table" of the dump's table of contents
	measured   measured // in the dump's snapshot
}

func (d dumped) local() LocalDump {
	return LocalDump{Path: d.path, Name: d.name, Taken: d.taken, Size: d.size, SHA256: d.sha256, DumpVersion: d.tool.Version, ServerVersion: d.server}
}

// ErrDiskSpace is wrapped when BACKUP_DIR has too little room for a dump.
var ErrDiskSpace = errors.New("not enough disk space")

// dump runs pg_dump into a temporary file, checks the result and renames it
// to its final name. On any failure the temporary file is removed and
// nothing else is touched.
func (r *Runner) dump(ctx context.Context, started time.Time) (dumped, error) {
	server, err := pgtools.ServerVersion(ctx, r.opts.DatabaseURL)
	if err != nil {
		return dumped{}, fmt.Errorf("backup: database unreachable: %w", err)
	}
	pgDump, err := r.finder.Find(ctx, "pg_dump", server)
	if err != nil {
		return dumped{}, fmt.Errorf("backup: %w", err)
	}
	pgRestore, err := r.findRestore(ctx, pgDump)
	if err != nil {
		return dumped{}, fmt.Errorf("backup: %w", err)
	}
	taken := started.In(r.opts.Location)
	name, err := layout.DumpName(r.opts.BranchID, taken, false)
	if err != nil {
		return dumped{}, fmt.Errorf("backup: %w", err)
	}
	final := filepath.Join(r.opts.BackupDir, name)
	if _, err := os.Lstat(final); err == nil {
		return dumped{}, fmt.Errorf("backup: %s already exists (two backups in the same second?)", final)
	}
	if err := r.checkSpace(); err != nil {
		return dumped{}, err
	}
	tmp := filepath.Join(r.opts.BackupDir, tempPrefix+name)
	promoted := false
	defer func() {
		if !promoted {
			_ = os.Remove(tmp)
		}
	}()

	// Created here so that the dump is not world-readable whatever the
	// umask: pg_dump truncates the file and keeps its mode.
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return dumped{}, r.writeError("create dump file", err)
	}
	_ = f.Close()
	r.log.Info("dump started", "database", r.conn.String(), "file", tmp, "pg_dump", pgDump.Path)
	began := time.Now()
	m, err := r.inSnapshot(ctx, taken, func(snapshotArg string) error { return r.runPgDump(ctx, pgDump, tmp, snapshotArg) })
	if err != nil {
		return dumped{}, err
	}
	dumpTime := time.Since(began)
	sha, size, toc, err := r.check(ctx, tmp, pgRestore)
	if err != nil {
		return dumped{}, err
	}
	r.log.Debug("dump written and checked", "pg_dump_duration", dumpTime.String(), "check_duration", (time.Since(began) - dumpTime).String())
	if err := os.Rename(tmp, final); err != nil {
		return dumped{}, r.writeError("promote dump", err)
	}
	promoted = true
	syncDir(r.opts.BackupDir)
	d := dumped{path: final, name: name, taken: taken, size: size, sha256: sha, server: server, tool: pgDump, restore: pgRestore, tables: len(toc.Tables()), tocTables: toc.Tables(), measured: m}
	if err := WriteChecksum(final, sha); err != nil {
		// The dump is good; readers recompute a missing checksum.
		r.log.Warn("could not write the checksum file", "dump", final, "error", err)
	}
	return d, nil
}

// findRestore prefers the pg_restore beside pg_dump (same installation).
func (r *Runner) findRestore(ctx context.Context, pgDump pgtools.Tool) (pgtools.Tool, error) {
	beside := pgtools.Finder{Explicit: filepath.Join(filepath.Dir(pgDump.Path), "pg_restore")}
	if t, err := beside.Find(ctx, "pg_restore", pgDump.Version); err == nil {
		return t, nil
	}
	return r.finder.Find(ctx, "pg_restore", pgDump.Version)
}

func (r *Runner) runPgDump(ctx context.Context, tool pgtools.Tool, file string, extra ...string) error {
	// A table locked by someone else (ACCESS EXCLUSIVE) makes pg_dump fail
	// after this wait rather than hang the backup.
	wait := r.LockWaitTimeout
	if wait <= 0 {
		wait = DefaultLockWaitTimeout
	}
	args := append([]string{"--format=custom", "--file=" + file, fmt.Sprintf("--lock-wait-timeout=%d", wait.Milliseconds())}, extra...)
	cmd, cleanup, err := r.conn.Command(ctx, tool.Path, args...)
	if err != nil {
		return fmt.Errorf("backup: pg_dump: %w", err)
	}
	defer cleanup()
	stderr := &pgtools.TailBuffer{}
	cmd.Stderr = stderr
	if err := pgtools.Run(cmd, r.OnDumpStart); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("backup: start pg_dump: %w", err)
		}
		if strings.Contains(stderr.String(), "No space left on device") {
			return r.writeError("pg_dump", syscall.ENOSPC)
		}
		if ctx.Err() == nil && strings.Contains(stderr.String(), "LOCK TABLE") && strings.Contains(stderr.String(), "timeout") {
			return fmt.Errorf("backup: pg_dump gave up after waiting %s for a table that another session holds locked (lock wait timeout): %s",
				wait, pgtools.ExitError(ctx, "pg_dump", err, stderr))
		}
		return fmt.Errorf("backup: %w", pgtools.ExitError(ctx, "pg_dump", err, stderr))
	}
	return nil
}

// writeError explains a failed write, plainly when the disk is full.
func (r *Runner) writeError(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("backup: %s: %w: %s is full; the partial dump was removed, nothing was promoted and no older dump was deleted",
			op, ErrDiskSpace, r.opts.BackupDir)
	}
	return fmt.Errorf("backup: %s: %w", op, err)
}

// checkSpace refuses to start a dump that would likely not fit: it wants
// 1.2 × the newest local dump (twice that when an encrypted copy is also
// written), and at least the size floor.
func (r *Runner) checkSpace() error {
	if r.FreeSpace == nil {
		return nil
	}
	free, err := r.FreeSpace(r.opts.BackupDir)
	if err != nil {
		return fmt.Errorf("backup: check free space: %w", err)
	}
	var last int64
	if dumps, err := ListLocal(r.opts.BackupDir, r.opts.BranchID, r.opts.Location); err == nil && len(dumps) > 0 {
		last = dumps[len(dumps)-1].Size
	}
	need := max(last+last/5, r.opts.MinDumpBytes)
	if r.st != nil && r.opts.Encrypted() {
		need += last
	}
	if free < uint64(need) {
		return fmt.Errorf("backup: %w in %s: %s free, about %s needed (newest dump %s, plus 20%%); nothing was dumped or deleted",
			ErrDiskSpace, r.opts.BackupDir, HumanBytes(int64(free)), HumanBytes(need), HumanBytes(last))
	}
	return nil
}

// check trusts a finished dump only when it is on disk (fsync), above the
// size floor and readable by pg_restore --list. The three run at once (disk
// flush, hashing and listing use different resources); the SHA-256 is
// computed on the way.
func (r *Runner) check(ctx context.Context, tmp string, pgRestore pgtools.Tool) (string, int64, pgtools.TOC, error) {
	fi, err := os.Stat(tmp)
	if err != nil {
		return "", 0, pgtools.TOC{}, fmt.Errorf("backup: check dump: %w", err)
	}
	if fi.Size() < r.opts.MinDumpBytes {
		return "", 0, pgtools.TOC{}, fmt.Errorf("backup: dump is %d bytes, below the %d-byte floor (BACKUP_MIN_SIZE_BYTES): not trusted, not kept", fi.Size(), r.opts.MinDumpBytes)
	}
	var (
		wg                        sync.WaitGroup
		syncErr, hashErr, listErr error
		sha                       string
		size                      int64
		toc                       pgtools.TOC
	)
	wg.Add(3)
	go func() { defer wg.Done(); syncErr = fsyncFile(tmp) }()
	go func() { defer wg.Done(); sha, size, hashErr = hashFileCtx(ctx, tmp) }()
	go func() { defer wg.Done(); toc, listErr = pgtools.ListArchive(ctx, pgRestore.Path, tmp) }()
	wg.Wait()
	if err := errors.Join(syncErr, hashErr); err != nil {
		return "", 0, pgtools.TOC{}, r.writeError("check dump", err)
	}
	if listErr != nil {
		return "", 0, pgtools.TOC{}, fmt.Errorf("backup: dump is not a readable archive: %w", listErr)
	}
	if size != fi.Size() {
		return "", 0, pgtools.TOC{}, fmt.Errorf("backup: check dump: it changed size while being checked (%d, then %d bytes)", fi.Size(), size)
	}
	return sha, size, toc, nil
}

// hashFileCtx is HashFile, stopped by ctx.
func hashFileCtx(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashReader(store.ContextReader(ctx, f))
}

// fsyncFile flushes a file's data to disk.
func fsyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
}

// HumanBytes is a size for people: "512 B", "4.5 MiB", "12.3 GiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
