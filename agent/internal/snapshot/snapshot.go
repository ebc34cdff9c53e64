// Package snapshot holds a database snapshot open for pg_dump and measures
// the database in it: the rows of every table the dump will contain and a
// business day's figures. pg_dump --snapshot reads the very same snapshot,
// so the counts are exactly what the dump holds, whatever is written while
// it runs.
package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Snapshot is an open REPEATABLE READ transaction whose snapshot is
// exported. It lives until Close: an exported snapshot can be imported only
// while its transaction is open.
type Snapshot struct {
	// ID is what pg_dump --snapshot takes.
	ID string

	conn  *pgx.Conn
	tx    pgx.Tx
	query summary.Query
}

// Open connects to url, opens a REPEATABLE READ, READ ONLY transaction
// and exports its snapshot. q is the metrics query DayFigures runs.
func Open(ctx context.Context, url string, q summary.Query) (*Snapshot, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("snapshot: connect: %w", err)
	}
	s := &Snapshot{conn: conn, query: q}
	s.tx, err = conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("snapshot: begin: %w", err)
	}
	if err := s.tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&s.ID); err != nil {
		s.Close(ctx)
		return nil, fmt.Errorf("snapshot: pg_export_snapshot: %w", err)
	}
	return s, nil
}

// Close ends the transaction and the connection; safe to call twice.
func (s *Snapshot) Close(ctx context.Context) {
	if s.conn == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	_ = s.tx.Rollback(ctx)
	_ = s.conn.Close(ctx)
	s.conn = nil
}

// Table is one table of the snapshot.
type Table struct {
	Name     string // "schema.table"
	Estimate int64  // rows, from pg_class (the planner's estimate)
	Rows     int64  // counted; -1 when not counted
}

// Counted reports whether the table's rows were counted.
func (t Table) Counted() bool { return t.Rows >= 0 }

// tablesSQL lists the tables whose rows a dump holds: ordinary and
// partitioned tables outside the system schemas and not members of an
// extension, with the planner's row estimate (a partitioned table's is the
// sum of its partitions').
const tablesSQL = `SELECT n.nspname, c.relname,
  CASE WHEN c.relkind = 'p'
       THEN (SELECT coalesce(sum(greatest(pc.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) pt JOIN pg_class pc ON pc.oid = pt.relid WHERE pt.isleaf)
       ELSE greatest(c.reltuples, 0) END::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2`

// CountRows counts the rows of every table in the snapshot, but leaves
// tables estimated above maxRows uncounted (Rows -1); maxRows 0 counts
// all, a negative maxRows none (the baseline of the counting benchmark).
func (s *Snapshot) CountRows(ctx context.Context, maxRows int64) ([]Table, error) {
	rows, err := s.tx.Query(ctx, tablesSQL)
	if err != nil {
		return nil, fmt.Errorf("snapshot: list tables: %w", err)
	}
	type rel struct {
		schema, name string
		estimate     int64
	}
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.schema, &x.name, &x.estimate)
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: list tables: %w", err)
	}
	out := make([]Table, 0, len(rels))
	for _, r := range rels {
		t := Table{Name: r.schema + "." + r.name, Estimate: r.estimate, Rows: -1}
		if maxRows == 0 || maxRows > 0 && r.estimate <= maxRows {
			sql := "SELECT count(*) FROM " + pgx.Identifier{r.schema, r.name}.Sanitize()
			if err := s.tx.QueryRow(ctx, sql).Scan(&t.Rows); err != nil {
				return nil, fmt.Errorf("snapshot: count rows of %s: %w", t.Name, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// DayFigures computes date's figures with the metrics query in the
// snapshot. Preparing and running it happen in savepoints: if either
// fails, the transaction (and the snapshot pg_dump may still be importing)
// stays usable.
func (s *Snapshot) DayFigures(ctx context.Context, date time.Time, loc *time.Location) (metrics.Document, error) {
	p, err := s.query.Prepare(ctx, savepointPreparer{s.tx})
	if err != nil {
		return metrics.Document{}, err
	}
	sp, err := s.tx.Begin(ctx)
	if err != nil {
		return metrics.Document{}, fmt.Errorf("snapshot: savepoint: %w", err)
	}
	doc, err := p.Run(ctx, sp, date, loc)
	if rerr := sp.Rollback(ctx); err == nil && rerr != nil {
		err = fmt.Errorf("snapshot: release savepoint: %w", rerr)
	}
	return doc, err
}

// savepointPreparer prepares each statement in a savepoint of tx, rolled
// back when the server refuses it. (A prepared statement outlives the
// savepoint: it belongs to the session.)
type savepointPreparer struct{ tx pgx.Tx }

func (p savepointPreparer) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	sp, err := p.tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	sd, err := sp.Prepare(ctx, name, sql)
	if err != nil {
		_ = sp.Rollback(ctx)
		return nil, err
	}
	return sd, sp.Commit(ctx)
}
