package restore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
)

// openScratch gives the database a drill restores into and the function
// that removes what the drill left. Without scratchURL it is a temporary
// database created on the branch server (the role needs CREATEDB, which is
// checked first so that the error says so) and dropped afterwards. With
// scratchURL it is the operator's database: it must hold no tables, and
// afterwards everything the restore created (owned by the connecting
// role, as pg_restore --no-owner leaves it) is dropped again. pg_restore
// keeps its connection files under secretsDir.
func openScratch(ctx context.Context, branch pgtools.Conn, scratchURL, secretsDir string, now time.Time, log *slog.Logger) (pgtools.Conn, pgtools.Version, func() error, error) {
	if scratchURL != "" {
		c, err := pgtools.ParseConn(scratchURL)
		if err != nil {
			return pgtools.Conn{}, 0, nil, fmt.Errorf("%s: %w", options.EnvVerifyDatabaseURL, err)
		}
		c = c.WithSecretsDir(secretsDir)
		server, err := pgtools.ServerVersion(ctx, c.URL())
		if err != nil {
			return pgtools.Conn{}, 0, nil, fmt.Errorf("%s unreachable: %w", options.EnvVerifyDatabaseURL, err)
		}
		if err := notSuperuser(ctx, c.URL()); err != nil {
			return pgtools.Conn{}, 0, nil, err
		}
		n, err := countTables(ctx, c.URL())
		if err != nil {
			return pgtools.Conn{}, 0, nil, fmt.Errorf("%s: inspect: %w", options.EnvVerifyDatabaseURL, err)
		}
		if n > 0 {
			return pgtools.Conn{}, 0, nil, fmt.Errorf("%s: %s holds %d tables; a drill restores only into an empty database (it empties it again afterwards)", options.EnvVerifyDatabaseURL, c, n)
		}
		empty := func() error {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			if err := execAdmin(dctx, c.URL(), "DROP OWNED BY CURRENT_USER"); err != nil {
				log.Error("could not empty the drill database", "database", c.String(), "error", err)
				return fmt.Errorf("empty the drill database %s: %w", c.Database(), err)
			}
			return nil
		}
		return c, server, empty, nil
	}
	server, err := pgtools.ServerVersion(ctx, branch.URL())
	if err != nil {
		return pgtools.Conn{}, 0, nil, fmt.Errorf("database unreachable: %w", err)
	}
	if err := canCreateDB(ctx, branch.URL()); err != nil {
		return pgtools.Conn{}, 0, nil, err
	}
	name := scratchName(branch.Database(), now)
	if err := execAdmin(ctx, branch.URL(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return pgtools.Conn{}, 0, nil, fmt.Errorf("create scratch database %s (the role needs CREATEDB, or set %s): %w", name, options.EnvVerifyDatabaseURL, err)
	}
	log.Info("scratch database created", "database", name)
	drop := func() error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		sql := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
		if server.Major() >= 130000 {
			sql += " WITH (FORCE)"
		}
		if err := execAdmin(dctx, branch.URL(), sql); err != nil {
			log.Error("could not drop the scratch database", "database", name, "error", err)
			return fmt.Errorf("drop scratch database %s: %w", name, err)
		}
		log.Info("scratch database dropped", "database", name)
		return nil
	}
	return branch.WithDatabase(name), server, drop, nil
}

// notSuperuser refuses a superuser for the operator's drill database:
// DROP OWNED BY, which empties it after a drill, would reach objects the
// system needs.
func notSuperuser(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("%s unreachable: %w", options.EnvVerifyDatabaseURL, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var role string
	var super bool
	if err := conn.QueryRow(ctx, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&role, &super); err != nil {
		return fmt.Errorf("%s: %w", options.EnvVerifyDatabaseURL, err)
	}
	if super {
		return fmt.Errorf("%s: the role %q is a superuser; give drills a role of their own that owns the database (a drill empties it afterwards with DROP OWNED BY)", options.EnvVerifyDatabaseURL, role)
	}
	return nil
}

// canCreateDB says plainly when the branch role may not create the
// scratch database.
func canCreateDB(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var role string
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT current_user, rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&role, &ok); err != nil {
		return fmt.Errorf("check CREATEDB: %w", err)
	}
	if !ok {
		return fmt.Errorf("the role %q lacks CREATEDB, which a drill needs for its temporary database: ALTER ROLE %s CREATEDB, or set %s to an empty database for drills",
			role, pgx.Identifier{role}.Sanitize(), options.EnvVerifyDatabaseURL)
	}
	return nil
}

// reportProgress logs (and writes to w, when set) a line every `every`
// while a restore runs: elapsed time and the scratch database's size. The
// returned function stops it.
func reportProgress(ctx context.Context, url, name string, every time.Duration, w io.Writer, log *slog.Logger) func() {
	if every <= 0 {
		every = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		began := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			size := int64(-1)
			if conn, err := pgx.Connect(ctx, url); err == nil {
				_ = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size)
				_ = conn.Close(context.WithoutCancel(ctx))
			}
			elapsed := time.Since(began).Round(time.Second)
			log.Info("restore in progress", "dump", name, "elapsed", elapsed.String(), "restored_bytes", size)
			if w != nil {
				fmt.Fprintf(w, "restoring %s: %s elapsed, %s restored so far\n", name, elapsed, mib(max(size, 0)))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// lockedWriter serializes writes of several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
