package restore

import (
	"context"
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

// VerifyRequest configures Verify.
type VerifyRequest struct {
	Identities []age.Identity
	WorkDir    string
	Progress   io.Writer
	// Now names the scratch database; nil is time.Now.
	Now func() time.Time
}

// TableCount is one restored table and its rows.
type TableCount struct {
	Table string // "schema.name"
	Rows  int64
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Key, Name, Origin string
	SHA256            string
	Database          string // the scratch database (dropped again)
	Tables            []TableCount
	Missing           []string // tables of the dump absent after the restore
	Duration          time.Duration
}

// Verify restores the newest good backup into a scratch database created on
// the server of DATABASE_URL, checks that every table of the dump's table
// of contents exists there, counts each table's rows, and drops the scratch
// database whatever happened. Any failure is an error.
func Verify(ctx context.Context, o options.Options, st store.Store, req VerifyRequest, logger *slog.Logger) (res VerifyResult, err error) {
	began := time.Now()
	log := componentLogger(logger).With("step", "verify")
	now := req.Now
	if now == nil {
		now = time.Now
	}
	conn, err := pgtools.ParseConn(o.DatabaseURL)
	if err != nil {
		return res, fmt.Errorf("verify: DATABASE_URL: %w", err)
	}
	conn = conn.WithSecretsDir(pgtools.SweptSecretsDir(workDir(req.WorkDir, o), log))
	server, err := pgtools.ServerVersion(ctx, conn.URL())
	if err != nil {
		return res, fmt.Errorf("verify: database unreachable: %w", err)
	}
	src, err := choose(ctx, o, st, "")
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	f := &fetcher{o: o, st: st, identities: req.Identities, workDir: workDir(req.WorkDir, o), progress: req.Progress, log: log}
	got, err := f.fetch(ctx, src)
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	defer got.cleanup()
	res.Key, res.Name, res.Origin, res.SHA256 = got.key, got.name, got.origin, got.sha256

	res.Database = scratchName(conn.Database(), now())
	if err := execAdmin(ctx, conn.URL(), "CREATE DATABASE "+pgx.Identifier{res.Database}.Sanitize()); err != nil {
		return res, fmt.Errorf("verify: create scratch database %s (the role needs CREATEDB): %w", res.Database, err)
	}
	log.Info("scratch database created", "database", res.Database)
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{res.Database}.Sanitize()
		if server.Major() >= 130000 {
			drop += " WITH (FORCE)"
		}
		if derr := execAdmin(dctx, conn.URL(), drop); derr != nil {
			log.Error("could not drop the scratch database", "database", res.Database, "error", derr)
			if err == nil {
				err = fmt.Errorf("verify: drop scratch database %s: %w", res.Database, derr)
			}
		}
	}()

	scratch := conn.WithDatabase(res.Database)
	tool, toc, err := listArchive(ctx, o, server, got)
	if err == nil {
		err = pgRestore(ctx, scratch, tool, got, req.Progress, false, log)
	}
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	res.Tables, res.Missing, err = compareTables(ctx, scratch.URL(), toc.Tables())
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	res.Duration = time.Since(began)
	if len(res.Missing) > 0 {
		return res, fmt.Errorf("verify: %d of %d tables of %s did not restore: %s",
			len(res.Missing), len(toc.Tables()), got.name, strings.Join(res.Missing, ", "))
	}
	log.Info("verify done", "name", got.name, "tables", len(res.Tables), "duration", res.Duration.String())
	return res, nil
}

// compareTables counts rows of each table of want in the database and lists
// those missing.
func compareTables(ctx context.Context, url string, want []string) ([]TableCount, []string, error) {
	have, err := listTables(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("list restored tables: %w", err)
	}
	present := map[string]bool{}
	for _, t := range have {
		present[t] = true
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("count rows: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var counts []TableCount
	var missing []string
	for _, t := range want {
		if !present[t] {
			missing = append(missing, t)
			continue
		}
		schema, name, _ := strings.Cut(t, ".")
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, name}.Sanitize()).Scan(&n); err != nil {
			return nil, nil, fmt.Errorf("count rows of %s: %w", t, err)
		}
		counts = append(counts, TableCount{Table: t, Rows: n})
	}
	return counts, missing, nil
}

// scratchName is "<db>_verify_<YYYYMMDD_HHMMSS>", within PostgreSQL's 63 bytes.
func scratchName(db string, t time.Time) string {
	suffix := "_verify_" + t.UTC().Format("20060102_150405")
	if len(db)+len(suffix) > 63 {
		db = db[:63-len(suffix)]
	}
	return db + suffix
}

func execAdmin(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
