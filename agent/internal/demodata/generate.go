// Package demodata fills the reference point-of-sale schema
// (spec/branch-schema.sql) with realistic, deterministic salon data:
// services and products with costs, discounts, GST 9 % + 9 %, mixed payment
// methods, tips, void bills, refunds of earlier bills, daily expenses, rent
// and salaries on the 1st (a loss day in a profitable month) and busier
// weekends. The demo, the tests and the benchmarks use it.
//
// Rows go in with COPY, one table at a time, inside one transaction: a
// failed run leaves nothing behind.
package demodata

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaSQL creates the reference schema's tables and indexes when absent.
//
//go:embed schema.sql
var SchemaSQL string

// DefaultBillsPerDay is the mean number of bills on a plain weekday.
const DefaultBillsPerDay = 60

// Options says what to generate.
type Options struct {
	// Days is how many business dates to fill, ending with End.
	Days int
	// Seed selects the data; the same seed and End give the same rows.
	Seed int64
	// End is the last business date (its calendar date is used, whatever
	// its location).
	End time.Time
	// Location is the branch's time zone: bills are timestamped in the
	// salon's opening hours there.
	Location *time.Location
	// BillsPerDay is the mean number of bills on a plain weekday
	// (DefaultBillsPerDay when 0); weekends get about 1.5 times as many.
	BillsPerDay int
}

// Result counts what was inserted.
type Result struct {
	From, To                                  time.Time // first and last business date (UTC midnight)
	Bills, Items, Payments, Refunds, Expenses int64
}

// DB is where the data goes: *pgx.Conn and *pgxpool.Pool are ones.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CreateSchema creates the reference schema's tables that are absent.
func CreateSchema(ctx context.Context, db DB) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("create reference schema: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, SchemaSQL); err != nil {
		return fmt.Errorf("create reference schema: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("create reference schema: %w", err)
	}
	return nil
}

func (o *Options) validate() error {
	var errs []error
	if o.Days < 1 {
		errs = append(errs, fmt.Errorf("days must be at least 1, got %d", o.Days))
	}
	if o.End.IsZero() {
		errs = append(errs, errors.New("end date is required"))
	}
	if o.Location == nil {
		errs = append(errs, errors.New("location is required"))
	}
	if o.BillsPerDay < 0 {
		errs = append(errs, fmt.Errorf("bills per day must not be negative, got %d", o.BillsPerDay))
	}
	if o.BillsPerDay == 0 {
		o.BillsPerDay = DefaultBillsPerDay
	}
	return errors.Join(errs...)
}

// Generate creates the reference tables that are absent and fills Days
// business dates ending with End. It refuses a range that already holds
// bills, so that it never mixes with real data.
func Generate(ctx context.Context, db DB, o Options) (Result, error) {
	if err := o.validate(); err != nil {
		return Result{}, fmt.Errorf("demo data: %w", err)
	}
	res, err := generate(ctx, db, o)
	if err != nil {
		return Result{}, fmt.Errorf("demo data: %w", err)
	}
	return res, nil
}

func generate(ctx context.Context, db DB, o Options) (Result, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, SchemaSQL); err != nil {
		return Result{}, fmt.Errorf("create reference schema: %w", err)
	}
	// Keep other writers out while ids are handed out.
	if _, err := tx.Exec(ctx, "LOCK TABLE bills IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return Result{}, fmt.Errorf("lock bills: %w", err)
	}
	var firstID int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM bills").Scan(&firstID); err != nil {
		return Result{}, fmt.Errorf("read last bill id: %w", err)
	}
	g := newGenerator(o, firstID)
	res := Result{From: g.first, To: g.date(g.days - 1)}
	from := g.at(0, 0, 0)
	to := g.at(g.days, 0, 0)
	var busy bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bills WHERE billed_at >= $1 AND billed_at < $2)", from, to).Scan(&busy); err != nil {
		return Result{}, fmt.Errorf("check for existing bills: %w", err)
	}
	if busy {
		return Result{}, fmt.Errorf("the database already holds bills between %s and %s; demo data only fills an empty range",
			res.From.Format(time.DateOnly), res.To.Format(time.DateOnly))
	}

	fks, err := dropForeignKeys(ctx, tx)
	if err != nil {
		return Result{}, err
	}
	for _, t := range tables {
		src := newSource(ctx, g, t)
		n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, src)
		src.close()
		if err != nil {
			return Result{}, fmt.Errorf("copy into %s: %w", t.name, err)
		}
		*t.count(&res) = n
	}
	if err := addForeignKeys(ctx, tx, fks); err != nil {
		return Result{}, err
	}
	if _, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence('bills', 'id'), (SELECT max(id) FROM bills))"); err != nil {
		return Result{}, fmt.Errorf("advance bills id sequence: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{}, fmt.Errorf("commit: %w", err)
	}
	// Fresh statistics, so that the planner uses the indexes at once, and
	// a vacuumed table (visibility map, hint bits set), as a live database
	// is, rather than one whose first reads write.
	if _, err := db.Exec(ctx, "VACUUM (ANALYZE) bills, bill_items, payments, refunds, expenses"); err != nil {
		return res, fmt.Errorf("vacuum: %w", err)
	}
	return res, nil
}

// foreignKey is a constraint dropped for the load and added back after.
type foreignKey struct {
	table, name, def string
}

// dropForeignKeys drops the foreign keys referencing bills: checking them
// row by row would dominate the load, while adding them back checks every
// row in one pass.
func dropForeignKeys(ctx context.Context, tx pgx.Tx) ([]foreignKey, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
		FROM pg_constraint c
		WHERE c.contype = 'f' AND c.confrelid = 'bills'::regclass
		  AND c.conrelid IN ('bill_items'::regclass, 'payments'::regclass, 'refunds'::regclass)`)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	fks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (foreignKey, error) {
		var fk foreignKey
		err := row.Scan(&fk.table, &fk.name, &fk.def)
		return fk, err
	})
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	for _, fk := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", fk.table, pgx.Identifier{fk.name}.Sanitize())); err != nil {
			return nil, fmt.Errorf("drop foreign key %s: %w", fk.name, err)
		}
	}
	return fks, nil
}

func addForeignKeys(ctx context.Context, tx pgx.Tx, fks []foreignKey) error {
	for _, fk := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", fk.table, pgx.Identifier{fk.name}.Sanitize(), fk.def)); err != nil {
			return fmt.Errorf("restore foreign key %s: %w", fk.name, err)
		}
	}
	return nil
}
