package summary

import (
	"context"
	"embed"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema is the agent's own schema in the branch database; the agent
// writes nowhere else.
const Schema = "branch_agent"

// migrateLockKey serialises migrators (two agents starting at once) with a
// transaction-level advisory lock.
const migrateLockKey = 0x62726e6368_01 // "brnch" 1

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded, versioned SQL file: migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads the embedded migrations in version order; versions
// run 1, 2, 3... without gaps.
func loadMigrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		sql, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: m[2], sql: string(sql)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration versions must run 1, 2, 3...: found %04d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the newest schema version this agent knows.
func LatestVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// Migrate brings the agent's schema to LatestVersion, applying each missing
// migration once, all in one transaction: running it again, or from two
// agents at once, is harmless. A database migrated by a newer agent is
// refused rather than written with an older layout. It returns the versions
// it applied.
func Migrate(ctx context.Context, db *pgxpool.Pool) ([]int, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", Schema, err)
	}
	applied, err := migrate(ctx, db, ms)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", Schema, err)
	}
	return applied, nil
}

func migrate(ctx context.Context, db *pgxpool.Pool, ms []migration) ([]int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS branch_agent;
		CREATE TABLE IF NOT EXISTS branch_agent.schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT version FROM branch_agent.schema_migrations")
	if err != nil {
		return nil, err
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	latest := ms[len(ms)-1].version
	for _, v := range done {
		if int(v) > latest {
			return nil, fmt.Errorf("the database is at schema version %d, newer than this agent knows (%d): upgrade the agent", v, latest)
		}
	}
	var applied []int
	for _, m := range ms {
		if slices.Contains(done, int32(m.version)) {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO branch_agent.schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return nil, fmt.Errorf("record %04d_%s: %w", m.version, m.name, err)
		}
		applied = append(applied, m.version)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return applied, nil
}
