// Package backuptest holds what the backup, restore and cleanup tests share:
// a branch database with the reference schema and rows, a snapshot of its
// contents for comparing two databases, and agent options pointing at the
// test services. It is for tests only.
package backuptest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// Schema is the reference branch schema (spec/branch-schema.sql), the one
// the demo data generator creates.
var Schema = demodata.SchemaSQL

// Branch is the branch id the tests back up.
const Branch = "branch-test"

// Tables of the reference schema.
var Tables = []string{"bills", "bill_items", "payments", "refunds", "expenses"}

// NewBranchDB creates a fresh database on the shared test cluster with the
// reference schema and bills bills (each with items and a payment; every
// tenth refunded) plus expenses, and returns the cluster, the database's
// name and its URL.
func NewBranchDB(tb testing.TB, bills int) (*testenv.Postgres, string, string) {
	tb.Helper()
	pg := testenv.PG(tb)
	db := pg.CreateDatabase(tb)
	Fill(tb, pg.URL(db), bills)
	return pg, db, pg.URL(db)
}

// Fill creates the reference schema in the database at url and inserts rows.
func Fill(tb testing.TB, url string, bills int) {
	tb.Helper()
	ctx := context.Background()
	conn := Connect(tb, url)
	n := []any{bills}
	stmts := []struct {
		sql  string
		args []any
	}{
		{Schema, nil},
		{`INSERT INTO bills (bill_number, billed_at, status, subtotal, discount, cgst, sgst, tip)
		 SELECT 'B' || lpad(i::text, 7, '0'), timestamptz '2026-02-01 10:00+05:30' + i * interval '7 minutes',
		        CASE WHEN i % 17 = 0 THEN 'void' ELSE 'paid' END, 10000 + i * 37 % 5000, i % 3 * 100,
		        (10000 + i * 37 % 5000) * 9 / 100, (10000 + i * 37 % 5000) * 9 / 100, i % 5 * 1000
		 FROM generate_series(1, $1::int) AS i`, n},
		{`INSERT INTO bill_items (bill_id, kind, name, quantity, unit_price, unit_cost)
		 SELECT id, CASE WHEN id % 2 = 0 THEN 'service' ELSE 'product' END, 'Item ' || (id % 13), 1 + id % 3, subtotal / (1 + id % 3), 1500
		 FROM bills`, nil},
		{`INSERT INTO payments (bill_id, method, amount, paid_at)
		 SELECT id, (ARRAY['cash','upi','card','wallet'])[1 + id % 4], subtotal - discount + cgst + sgst + tip, billed_at
		 FROM bills WHERE status = 'paid'`, nil},
		{`INSERT INTO refunds (bill_id, refunded_at, method, amount, cgst, sgst)
		 SELECT id, billed_at + interval '1 day', 'cash', subtotal / 2, cgst / 2, sgst / 2 FROM bills WHERE id % 10 = 0`, nil},
		{`INSERT INTO expenses (spent_on, category, amount)
		 SELECT date '2026-02-01' + (i % 28), (ARRAY['rent','supplies','salaries'])[1 + i % 3], 25000 + i
		 FROM generate_series(1, greatest($1::int / 10, 1)) AS i`, n},
	}
	for i, s := range stmts {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			tb.Fatalf("fill branch database (statement %d): %v", i, err)
		}
	}
}

// Connect opens a connection closed when the test ends.
func Connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// AddBulk adds about mib MiB of incompressible text to expenses, so that a
// dump grows beyond one multipart part.
func AddBulk(tb testing.TB, url string, mib int) {
	tb.Helper()
	ctx := context.Background()
	conn := Connect(tb, url)
	// Each row holds 128 random hex digits (64 bytes of entropy after
	// compression, roughly): 16384 rows per MiB of dump.
	_, err := conn.Exec(ctx, `INSERT INTO expenses (spent_on, category, amount)
		SELECT date '2026-01-01', md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text), i
		FROM generate_series(1, $1::int) AS i`, mib*16384)
	if err != nil {
		tb.Fatalf("add bulk rows: %v", err)
	}
}

// Snapshot returns every row of every reference table as text, in key
// order, for comparing two databases.
func Snapshot(tb testing.TB, url string) map[string][]string {
	tb.Helper()
	ctx := context.Background()
	conn := Connect(tb, url)
	out := map[string][]string{}
	for _, t := range Tables {
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT t::text FROM %s AS t ORDER BY id", pgx.Identifier{t}.Sanitize()))
		if err != nil {
			tb.Fatalf("snapshot %s: %v", t, err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatalf("snapshot %s: %v", t, err)
		}
		out[t] = vals
	}
	return out
}

// SameRows fails the test when two snapshots differ, naming the first difference.
func SameRows(tb testing.TB, got, want map[string][]string) {
	tb.Helper()
	for _, t := range slices.Sorted(maps.Keys(want)) {
		g, w := got[t], want[t]
		if len(g) != len(w) {
			tb.Fatalf("table %s: %d rows, want %d", t, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				tb.Fatalf("table %s row %d: %s, want %s", t, i, g[i], w[i])
			}
		}
	}
}

// Env is the environment of an agent backing up url into dir, with the
// S3 server's settings when s3 is not nil.
func Env(url, dir string, s3 *testenv.S3Server) map[string]string {
	env := map[string]string{
		options.EnvDatabaseURL:  url,
		options.EnvBranchID:     Branch,
		options.EnvBackupDir:    dir,
		options.EnvMinDumpBytes: "512",
		options.EnvLogLevel:     "debug",
	}
	if s3 != nil {
		maps.Copy(env, s3.Env())
	}
	return env
}

// Options loads the agent's options from env through the real loader.
func Options(tb testing.TB, env map[string]string) options.Options {
	tb.Helper()
	o, err := options.Load(config.NewReader(config.MapLookup(env)), true)
	if err != nil {
		tb.Fatalf("options: %v", err)
	}
	return o
}

// FastStore is an S3 store for the server that retries at once, so that
// fault tests take no backoff time.
func FastStore(tb testing.TB, s3 *testenv.S3Server, attempts int) *store.S3 {
	tb.Helper()
	o := s3.Options()
	o.MaxBackoff = 1
	o.MaxAttempts = attempts
	st, err := store.NewS3(o)
	if err != nil {
		tb.Fatalf("s3 store: %v", err)
	}
	return st
}
