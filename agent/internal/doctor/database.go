package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
)

type serverInfo struct {
	ok      bool
	version pgtools.Version
	user    string
}

// database connects with DATABASE_URL (a fresh connection, so that the
// password is really checked) and reads the server's version.
func (c *checker) database(ctx context.Context) Result {
	const setting = options.EnvDatabaseURL
	cfg, err := pgx.ParseConfig(c.cfg.Options.DatabaseURL)
	if err != nil {
		return fail(CheckDatabase, setting, "is not a valid PostgreSQL connection URL") // pgx may quote it
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fail(CheckDatabase, setting, "%s", DBReason(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var num int
	var user string
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_user").Scan(&num, &user); err != nil {
		return fail(CheckDatabase, setting, "%s", DBReason(err))
	}
	c.server = serverInfo{ok: true, version: pgtools.Version(num), user: user}
	if c.cfg.OnVersions != nil {
		c.cfg.OnVersions(c.server.version.String(), "")
	}
	return pass(CheckDatabase, setting, "connected to database %q on %s:%d as %q (PostgreSQL %s)",
		cfg.Database, cfg.Host, cfg.Port, user, c.server.version)
}

// DBReason is a database error in words: the server's own message when it
// sent one (`password authentication failed for user "bw"`), else the
// driver's. Callers redact it.
func DBReason(err error) string {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Message
	}
	if ce, ok := errors.AsType[*pgconn.ConnectError](err); ok && ce.Config != nil {
		// pgx lists every address and attempt: keep the last cause.
		lines := strings.Split(strings.TrimSpace(ce.Error()), "\n")
		last := lines[len(lines)-1]
		if i := strings.LastIndex(last, ": "); i >= 0 {
			last = last[i+2:]
		}
		return fmt.Sprintf("cannot connect to %s:%d (user %q, database %q): %s", ce.Config.Host, ce.Config.Port, ce.Config.User, ce.Config.Database, last)
	}
	return err.Error()
}

// pgDump finds a pg_dump whose major version is at least the server's.
func (c *checker) pgDump(ctx context.Context) Result {
	const setting = options.EnvPGDumpPath
	if !c.server.ok {
		return skip(CheckPGDump, setting, "needs a working %s (the server's version decides)", options.EnvDatabaseURL)
	}
	f := pgtools.NewFinder(c.cfg.Options.PGDumpPath, options.EnvPGDumpPath)
	t, err := f.Find(ctx, "pg_dump", c.server.version)
	if err != nil {
		return fail(CheckPGDump, setting, "%v", err)
	}
	if c.cfg.OnVersions != nil {
		c.cfg.OnVersions("", t.Version.String())
	}
	return pass(CheckPGDump, setting, "pg_dump %s at %s suits the server's PostgreSQL %s", t.Version, t.Path, c.server.version)
}

// metricsQuery runs the metrics query (the default one, or
// METRICS_QUERY_FILE's) without storing anything.
func (c *checker) metricsQuery(ctx context.Context) Result {
	const setting = options.EnvMetricsQueryFile
	which := "the default metrics query"
	if f := c.cfg.Options.MetricsQueryFile; f != "" {
		which = "metrics query file " + f
	}
	switch {
	case c.cfg.Query == nil:
		return skip(CheckMetricsQuery, setting, "not checked")
	case !c.server.ok:
		return skip(CheckMetricsQuery, setting, "needs a working %s", options.EnvDatabaseURL)
	}
	if err := c.cfg.Query.Check(ctx); err != nil {
		if _, ok := errors.AsType[*summary.QueryError](err); ok {
			return fail(CheckMetricsQuery, setting, "%v", err)
		}
		return fail(CheckMetricsQuery, setting, "%s cannot run: %s", which, fmt.Sprint(DBReason(err)))
	}
	return pass(CheckMetricsQuery, setting, "%s runs and returns every column", which)
}
