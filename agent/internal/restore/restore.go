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

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/layout"
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
	// FromBranch, when set, restores that branch's backups instead of
	// BRANCH_ID's: the newest good one of its prefix, or a Key under it. A
	// Key of another branch than the one restored from is refused.
	FromBranch string
	// Confirm, when set, is called before anything is fetched when the
	// target has tables, with what the restore would replace; an error stops
	// the restore. When nil, Yes alone decides.
	Confirm func(Replacement) error
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
	// Skipped are the newer backups passed over by a restore of the
	// latest (each "name: why"): not matching their checksum, or unreadable.
	Skipped []string
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
	target = target.WithSecretsDir(pgtools.SweptSecretsDir(workDir(req.WorkDir, o), log))
	server, err := pgtools.ServerVersion(ctx, target.URL())
	if err != nil {
		return Result{}, fmt.Errorf("restore: target database unreachable: %w", err)
	}
	if req.FromBranch != "" {
		if err := layout.ValidateBranchID(req.FromBranch); err != nil {
			return Result{}, fmt.Errorf("restore: --from-branch: %w", err)
		}
		o.BranchID = req.FromBranch
	}
	if b := dumpBranch(req.Key); req.Key != "" && b != "" {
		if err := checkBranch(b, o.BranchID, req.FromBranch != ""); err != nil {
			return Result{}, fmt.Errorf("restore: %s: %w", req.Key, err)
		}
	}
	tables, err := targetTables(ctx, target.URL())
	if err != nil {
		return Result{}, fmt.Errorf("restore: inspect target: %w", err)
	}
	if len(tables) > 0 {
		rep := Replacement{Database: target.Database(), Tables: tables, Backup: req.Key}
		switch {
		case req.Confirm != nil:
			if err := req.Confirm(rep); err != nil {
				return Result{}, fmt.Errorf("restore: %w", err)
			}
		case !req.Yes:
			return Result{}, fmt.Errorf("restore: %w: %s has %d tables with %d rows; pass --yes to replace them with the backup",
				ErrTargetNotEmpty, target, len(tables), rep.Rows())
		}
	}
	f := &fetcher{o: o, st: st, identities: req.Identities, workDir: workDir(req.WorkDir, o), progress: req.Progress, log: log}
	got, tool, toc, skipped, err := fetchGood(ctx, o, st, f, req.Key, server, log, req.Progress)
	if err != nil {
		return Result{Skipped: skipped}, fmt.Errorf("restore: %w", err)
	}
	defer got.cleanup()
	res := Result{Key: got.key, Name: got.name, Origin: got.origin, Size: got.size, SHA256: got.sha256, Skipped: skipped}
	log.Info("backup fetched and checked", "key", got.key, "name", got.name, "origin", got.origin, "sha256", got.sha256)
	if err := pgRestore(ctx, target, tool, got, req.Progress, req.NoPrivileges, log); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	res.Tables = toc.Tables()
	res.Duration = time.Since(began)
	log.Info("restore done", "target", target.String(), "name", got.name, "tables", len(res.Tables), "duration", res.Duration.String())
	return res, nil
}

// fetchGood fetches the backup named by key or, when key is "", the newest
// backup that is good: its bytes match its checksum and pg_restore can read
// it. A newer backup that is not good is skipped, saying so in the log and
// on progress, and the next newest is tried. skipped lists what was passed
// over and why.
func fetchGood(ctx context.Context, o options.Options, st store.Store, f *fetcher, key string, server pgtools.Version,
	log *slog.Logger, progress io.Writer) (got fetched, tool pgtools.Tool, toc pgtools.TOC, skipped []string, err error) {
	if key != "" {
		src, err := choose(ctx, o, st, key)
		if err != nil {
			return fetched{}, tool, toc, nil, err
		}
		if got, err = f.fetch(ctx, src); err != nil {
			return fetched{}, tool, toc, nil, err
		}
		if tool, toc, err = listArchive(ctx, o, server, got); err != nil {
			got.cleanup()
			return fetched{}, tool, toc, nil, err
		}
		return got, tool, toc, nil, nil
	}
	var firstErr error
	for src, err := range latest(ctx, o, st) {
		if err != nil {
			return fetched{}, tool, toc, skipped, err
		}
		got, err = f.fetch(ctx, src)
		if err == nil {
			if tool, toc, err = listArchive(ctx, o, server, got); err != nil {
				got.cleanup()
			}
		}
		if err == nil {
			if len(skipped) > 0 {
				log.Warn("restoring an older backup: the newer ones are not good", "name", got.name, "skipped", skipped)
				if progress != nil {
					fmt.Fprintf(progress, "using %s, the newest backup that matches its checksum\n", got.name)
				}
			}
			return got, tool, toc, skipped, nil
		}
		if ctx.Err() != nil || !errors.Is(err, backup.ErrChecksumMismatch) && !errors.Is(err, errUnreadable) {
			return fetched{}, tool, toc, skipped, err
		}
		if firstErr == nil {
			firstErr = err
		}
		skipped = append(skipped, fmt.Sprintf("%s: %v", src.name, err))
		log.Warn("the newest backup is not good: trying the next newest", "name", src.name, "key", src.key, "error", err)
		if progress != nil {
			fmt.Fprintf(progress, "skipping %s: %v; trying the next newest backup\n", src.name, err)
		}
	}
	if firstErr != nil {
		return fetched{}, tool, toc, skipped, fmt.Errorf("%w (%d backups tried, none is good)", firstErr, len(skipped))
	}
	if st == nil {
		return fetched{}, tool, toc, nil, fmt.Errorf("%w: no dumps of branch %s in %s (local-only mode: no S3 settings)", ErrNoBackup, o.BranchID, o.BackupDir)
	}
	return fetched{}, tool, toc, nil, fmt.Errorf("%w: no confirmed backup of branch %s in the bucket", ErrNoBackup, o.BranchID)
}

// errUnreadable is wrapped when pg_restore cannot read a fetched dump.
var errUnreadable = errors.New("not a readable archive")

// listArchive finds the pg_restore for the dump and the target server and
// lists the archive: it must be readable.
func listArchive(ctx context.Context, o options.Options, server pgtools.Version, f fetched) (pgtools.Tool, pgtools.TOC, error) {
	need := server
	if f.dumpVersion.Major() > need.Major() {
		need = f.dumpVersion
	}
	tool, err := pgtools.NewFinder(o.PGDumpPath, options.EnvPGDumpPath).Find(ctx, "pg_restore", need)
	if err != nil {
		return tool, pgtools.TOC{}, err
	}
	toc, err := pgtools.ListArchive(ctx, tool.Path, f.path)
	if err != nil {
		if ctx.Err() != nil {
			return tool, pgtools.TOC{}, err
		}
		return tool, pgtools.TOC{}, fmt.Errorf("%s is %w: %w", f.name, errUnreadable, err)
	}
	if toc.DumpVersion.Major() > tool.Version.Major() {
		return tool, pgtools.TOC{}, fmt.Errorf("%s was written by pg_dump %s but pg_restore is %s: install the PostgreSQL %s client",
			f.name, toc.DumpVersion, tool.Version, toc.DumpVersion.MajorString())
	}
	return tool, toc, nil
}

// pgRestore restores a listed archive with tool.
func pgRestore(ctx context.Context, target pgtools.Conn, tool pgtools.Tool, f fetched, progress io.Writer, noPrivileges bool, log *slog.Logger) error {
	args := []string{"--clean", "--if-exists", "--no-owner", "--single-transaction"}
	if noPrivileges {
		args = append(args, "--no-privileges")
	}
	cmd, cleanup, err := target.Command(ctx, tool.Path, append(args, f.path)...)
	if err != nil {
		return err
	}
	defer cleanup()
	stderr := &pgtools.TailBuffer{}
	cmd.Stderr = stderr
	if progress != nil {
		fmt.Fprintf(progress, "restoring %s into %s ...\n", f.name, target.Database())
	}
	log.Info("pg_restore started", "target", target.String(), "pg_restore", tool.Path, "file", f.path)
	if err := pgtools.Run(cmd, nil); err != nil {
		hint := ""
		switch msg := stderr.String(); {
		case !noPrivileges && strings.Contains(msg, "role") && strings.Contains(msg, "does not exist"):
			hint = " (the target server lacks a role the dump grants to: create it, or pass --no-privileges)"
		case strings.Contains(msg, "must be owner of"):
			hint = fmt.Sprintf(" (the role %s does not own the tables it would replace: restore into a new database it owns, or as the tables' owner)", target.User())
		}
		return fmt.Errorf("nothing was changed (single transaction)%s: %w", hint, pgtools.ExitError(ctx, "pg_restore", err, stderr))
	}
	return nil
}

// userTablesSQL lists ordinary and partitioned tables outside the system schemas.
const userTablesSQL = `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
ORDER BY 1, 2`

// countTables is how many user tables the database has.
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
