// Package restore turns the seed's five manual restore steps into commands:
// Run fetches a backup (the identical local copy when there is one), checks
// its SHA-256 against the metadata and restores it into a database with
// pg_restore; Verify restores the newest good backup into a scratch
// database, checks every table arrived and counts rows.
package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/store"
)

// ErrTargetNotEmpty is wrapped when the target database already has tables
// and the caller did not confirm replacing them.
var ErrTargetNotEmpty = errors.New("target database is not empty")

// Request says what to restore where.
type Request struct {
	// Key is a bucket key or a dump file name; "" means the newest good backup.
	Key string
	// TargetURL is the database to restore into (may hold a password: it
	// never reaches a command line or a log line).
	TargetURL string
	// Yes confirms replacing the tables of a non-empty target.
	Yes bool
	// Identities decrypt age-encrypted backups.
	Identities []age.Identity
	// WorkDir holds downloads; "" is BACKUP_DIR if it exists, else the
	// system's temporary directory.
	WorkDir string
	// Progress, when not nil, receives a progress line (a terminal).
	Progress io.Writer
	// NoPrivileges skips the dump's GRANTs and REVOKEs: for a server that
	// lacks the branch's roles (a restore onto a new machine), where they
	// would fail the whole single-transaction restore.
	NoPrivileges bool
}

// Result describes a restore.
type Result struct {
	Key      string // bucket key; "" in local-only mode
	Name     string // dump file name
	Origin   string // OriginBucket, OriginLocalCopy or OriginLocal
	Size     int64  // of the plain dump
	SHA256   string // of the plain dump, verified
	Tables   []string
	Duration time.Duration
}

// Run restores one backup into req.TargetURL with
// pg_restore --clean --if-exists --no-owner, in a single transaction so
// that a failed restore leaves the target as it was.
func Run(ctx context.Context, o options.Options, st store.Store, req Request, logger *slog.Logger) (Result, error) {
	began := time.Now()
	log := componentLogger(logger)
	target, err := pgtools.ParseConn(req.TargetURL)
	if err != nil {
		return Result{}, fmt.Errorf("restore: target URL: %w", err)
	}
	server, err := pgtools.ServerVersion(ctx, target.URL())
	if err != nil {
		return Result{}, fmt.Errorf("restore: target database unreachable: %w", err)
	}
	n, err := countTables(ctx, target.URL())
	if err != nil {
		return Result{}, fmt.Errorf("restore: inspect target: %w", err)
	}
	if n > 0 && !req.Yes {
		return Result{}, fmt.Errorf("restore: %w: %s has %d tables; pass --yes to replace them with the backup", ErrTargetNotEmpty, target, n)
	}
	src, err := choose(ctx, o, st, req.Key)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	f := &fetcher{o: o, st: st, identities: req.Identities, workDir: workDir(req.WorkDir, o), progress: req.Progress, log: log}
	got, err := f.fetch(ctx, src)
	if err != nil {
		return Result{}, fmt.Errorf("restore: %w", err)
	}
	defer got.cleanup()
	res := Result{Key: got.key, Name: got.name, Origin: got.origin, Size: got.size, SHA256: got.sha256}
	log.Info("backup fetched and checked", "key", got.key, "name", got.name, "origin", got.origin, "sha256", got.sha256)
	toc, err := pgRestore(ctx, o, target, server, got, req.Progress, req.NoPrivileges, log)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	res.Tables = toc.Tables()
	res.Duration = time.Since(began)
	log.Info("restore done", "target", target.String(), "name", got.name, "tables", len(res.Tables), "duration", res.Duration.String())
	return res, nil
}

// pgRestore lists the archive (it must be readable) and restores it.
func pgRestore(ctx context.Context, o options.Options, target pgtools.Conn, server pgtools.Version, f fetched, progress io.Writer, noPrivileges bool, log *slog.Logger) (pgtools.TOC, error) {
	need := server
	if f.dumpVersion.Major() > need.Major() {
		need = f.dumpVersion
	}
	tool, err := pgtools.NewFinder(o.PGDumpPath, options.EnvPGDumpPath).Find(ctx, "pg_restore", need)
	if err != nil {
		return pgtools.TOC{}, err
	}
	toc, err := pgtools.ListArchive(ctx, tool.Path, f.path)
	if err != nil {
		return pgtools.TOC{}, fmt.Errorf("%s is not a readable archive: %w", f.name, err)
	}
	if toc.DumpVersion.Major() > tool.Version.Major() {
		return pgtools.TOC{}, fmt.Errorf("%s was written by pg_dump %s but pg_restore is %s: install the PostgreSQL %s client",
			f.name, toc.DumpVersion, tool.Version, toc.DumpVersion.MajorString())
	}
	args := []string{"--clean", "--if-exists", "--no-owner", "--single-transaction"}
	if noPrivileges {
		args = append(args, "--no-privileges")
	}
	cmd, cleanup, err := target.Command(ctx, tool.Path, append(args, f.path)...)
	if err != nil {
		return pgtools.TOC{}, err
	}
	defer cleanup()
	stderr := &pgtools.TailBuffer{}
	cmd.Stderr = stderr
	if progress != nil {
		fmt.Fprintf(progress, "restoring %s into %s ...\n", f.name, target.Database())
	}
	log.Info("pg_restore started", "target", target.String(), "pg_restore", tool.Path, "file", f.path)
	if err := cmd.Run(); err != nil {
		hint := ""
		if !noPrivileges && strings.Contains(stderr.String(), "role") && strings.Contains(stderr.String(), "does not exist") {
			hint = " (the target server lacks a role the dump grants to: create it, or pass --no-privileges)"
		}
		return pgtools.TOC{}, fmt.Errorf("nothing was changed (single transaction)%s: %w", hint, pgtools.ExitError(ctx, "pg_restore", err, stderr))
	}
	return toc, nil
}

// userTablesSQL lists ordinary and partitioned tables outside the system schemas.
const userTablesSQL = `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
ORDER BY 1, 2`

func countTables(ctx context.Context, url string) (int, error) {
	tables, err := listTables(ctx, url)
	return len(tables), err
}

// listTables returns "schema.table" for each user table of the database.
func listTables(ctx context.Context, url string) ([]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, userTablesSQL)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return nil, err
		}
		out = append(out, schema+"."+name)
	}
	return out, rows.Err()
}

func componentLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("component", "restore")
}
