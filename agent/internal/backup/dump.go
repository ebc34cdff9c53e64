package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
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
	// manifest is the dump's, as written beside it (of the plain dump).
	manifest manifest.Manifest
}

func (d dumped) local() LocalDump {
	return LocalDump{Path: d.path, Name: d.name, Taken: d.taken, Size: d.size, SHA256: d.sha256, DumpVersion: d.tool.Version, ServerVersion: d.server}
}

// ErrDiskSpace is wrapped when BACKUP_DIR has too little room for a dump.
var ErrDiskSpace = errors.New("not enough disk space")

// dump streams pg_dump's output into a temporary file, hashing it in the
// same pass, checks the result and renames it to its final name. On any
// failure the temporary file is removed and nothing else is touched.
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

	// Created here, not world-readable whatever the umask; the agent
	// writes pg_dump's output into it and never opens it again before the
	// rename (pg_restore --list reads it, in its own process).
	f, err := r.openDumpFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return dumped{}, r.writeError("create dump file", err)
	}
	defer f.Close()
	r.log.Info("dump started", "database", r.conn.String(), "file", tmp, "pg_dump", pgDump.Path)
	began := time.Now()
	var s streamed
	m, err := r.inSnapshot(ctx, taken, func(snapshotArg string) (err error) {
		s, err = r.runPgDump(ctx, pgDump, f, snapshotArg)
		return err
	})
	if err != nil {
		return dumped{}, err
	}
	dumpTime := time.Since(began)
	toc, err := r.check(ctx, f, tmp, s.size, pgRestore)
	if err != nil {
		return dumped{}, err
	}
	if err := f.Close(); err != nil {
		return dumped{}, r.writeError("close dump", err)
	}
	r.log.Debug("dump written and checked", "pg_dump_duration", dumpTime.String(), "check_duration", (time.Since(began) - dumpTime).String())
	if err := os.Rename(tmp, final); err != nil {
		return dumped{}, r.writeError("promote dump", err)
	}
	promoted = true
	syncDir(r.opts.BackupDir)
	d := dumped{path: final, name: name, taken: taken, size: s.size, sha256: s.sha256, server: server, tool: pgDump, restore: pgRestore, tables: len(toc.Tables()), tocTables: toc.Tables(), measured: m}
	if err := WriteChecksum(final, s.sha256); err != nil {
		// The dump is good; readers recompute a missing checksum.
		r.log.Warn("could not write the checksum file", "dump", final, "error", err)
	}
	// The counts are kept beside the dump, so that a catch-up upload of a
	// dump that missed its night carries them too.
	d.manifest, err = r.localManifest(d, r.Now())
	if err != nil {
		// A bug, not the dump's fault: the upload fails on it again.
		r.log.Error("the dump's manifest is invalid: not written", "dump", final, "error", err)
	} else if err := writeLocalManifest(final, d.manifest); err != nil {
		// This run still uploads it; a catch-up of this dump could not.
		r.log.Warn("could not write the manifest beside the dump", "dump", final, "error", err)
	} else {
		r.log.Info("manifest written beside the dump", "file", final+layout.ManifestExt, "tables", len(d.manifest.Tables),
			"not_counted", len(d.manifest.NotCounted), "day", dayDate(d.manifest.Day))
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

// check trusts a finished dump only when it is above the size floor, on
// disk (fsync) and readable by pg_restore --list; flushing and listing run
// at once. size is what came through the pipe and was hashed: the file
// must hold exactly that.
func (r *Runner) check(ctx context.Context, f *os.File, tmp string, size int64, pgRestore pgtools.Tool) (pgtools.TOC, error) {
	if size < r.opts.MinDumpBytes {
		return pgtools.TOC{}, fmt.Errorf("backup: dump is %d bytes, below the %d-byte floor (BACKUP_MIN_SIZE_BYTES): not trusted, not kept", size, r.opts.MinDumpBytes)
	}
	fi, err := f.Stat()
	if err != nil {
		return pgtools.TOC{}, fmt.Errorf("backup: check dump: %w", err)
	}
	if fi.Size() != size {
		return pgtools.TOC{}, fmt.Errorf("backup: check dump: the file holds %d bytes, %d were written and hashed", fi.Size(), size)
	}
	var (
		wg               sync.WaitGroup
		syncErr, listErr error
		toc              pgtools.TOC
	)
	wg.Add(2)
	go func() { defer wg.Done(); syncErr = f.Sync() }()
	go func() { defer wg.Done(); toc, listErr = pgtools.ListArchive(ctx, pgRestore.Path, tmp) }()
	wg.Wait()
	if syncErr != nil {
		return pgtools.TOC{}, r.writeError("fsync dump", syncErr)
	}
	if listErr != nil {
		return pgtools.TOC{}, fmt.Errorf("backup: dump is not a readable archive: %w", listErr)
	}
	return toc, nil
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
