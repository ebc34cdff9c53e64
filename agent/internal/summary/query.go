package summary

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

//go:embed default_query.sql
var defaultQuerySQL string

// DefaultSource is Query.Source of the default query.
const DefaultSource = "default"

// Query computes one business date's figures: the default query over the
// reference schema, or a METRICS_QUERY_FILE. Both follow the contract of
// metrics-v1.md ("Pluggable query"): parameters $1 = start of the business
// day, $2 = start of the next day (timestamptz in the branch's zone), $3 =
// the date; exactly one row whose columns are named total_bills to
// total_tips (the derived figures may be left out).
type Query struct {
	source string
	sql    string
}

// DefaultQuery is the query over the reference schema.
func DefaultQuery() Query { return Query{source: DefaultSource, sql: defaultQuerySQL} }

// LoadQueryFile reads a METRICS_QUERY_FILE.
func LoadQueryFile(path string) (Query, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Query{}, fmt.Errorf("read metrics query file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return Query{}, &QueryError{Source: path, Problem: "is empty"}
	}
	return Query{source: path, sql: string(b)}, nil
}

// SQL is the query's text (the benchmarks EXPLAIN the default one).
func (q Query) SQL() string { return q.sql }

// Source is DefaultSource or the query file's path.
func (q Query) Source() string { return q.source }

// IsDefault reports whether q reads the reference schema.
func (q Query) IsDefault() bool { return q.source == DefaultSource }

// QueryError is a query that breaks the contract: no row, two rows, a
// missing column, a NULL, a value that is not an integer, or SQL the
// server refuses. Column is "" when the problem is not one column's.
type QueryError struct {
	Source  string // DefaultSource or the file's path
	Column  string
	Problem string
	Err     error // the server's error, if any
}

// Error names the query (file), the column and the problem.
func (e *QueryError) Error() string {
	var b strings.Builder
	if e.Source == DefaultSource {
		b.WriteString("default metrics query")
	} else {
		b.WriteString("metrics query file " + e.Source)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(" " + e.Problem)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap is the server's error, if any.
func (e *QueryError) Unwrap() error { return e.Err }

// Permanent reports whether trying the query again cannot help (the job
// retry policy, agent/internal/jobretry, asks): a result that breaks the
// contract, or SQL the server refuses as written (syntax, an undefined
// column or table, a data exception). A lost connection is not.
func (e *QueryError) Permanent() bool {
	if e.Err == nil {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(e.Err, &pe) {
		return strings.HasPrefix(pe.Code, "42") || strings.HasPrefix(pe.Code, "22")
	}
	return false
}

// figures names the document's figures, total_bills to total_tips, in spec
// order; derived ones may be left out of a query's row.
var figures = []struct {
	name    string
	derived bool
	ptr     func(d *metrics.Document) *int64
}{
	{"total_bills", false, func(d *metrics.Document) *int64 { return &d.TotalBills }},
	{"refund_count", false, func(d *metrics.Document) *int64 { return &d.RefundCount }},
	{"gross_revenue", false, func(d *metrics.Document) *int64 { return &d.GrossRevenue }},
	{"discount_amount", false, func(d *metrics.Document) *int64 { return &d.DiscountAmount }},
	{"refund_amount", false, func(d *metrics.Document) *int64 { return &d.RefundAmount }},
	{"net_revenue", true, func(d *metrics.Document) *int64 { return &d.NetRevenue }},
	{"cgst_collected", false, func(d *metrics.Document) *int64 { return &d.CGSTCollected }},
	{"sgst_collected", false, func(d *metrics.Document) *int64 { return &d.SGSTCollected }},
	{"total_tax", true, func(d *metrics.Document) *int64 { return &d.TotalTax }},
	{"cash_collected", false, func(d *metrics.Document) *int64 { return &d.CashCollected }},
	{"digital_collected", false, func(d *metrics.Document) *int64 { return &d.DigitalCollected }},
	{"actual_service_cogs", false, func(d *metrics.Document) *int64 { return &d.ActualServiceCOGS }},
	{"actual_product_cogs", false, func(d *metrics.Document) *int64 { return &d.ActualProductCOGS }},
	{"total_cogs", true, func(d *metrics.Document) *int64 { return &d.TotalCOGS }},
	{"total_expenses", false, func(d *metrics.Document) *int64 { return &d.TotalExpenses }},
	{"gross_profit", true, func(d *metrics.Document) *int64 { return &d.GrossProfit }},
	{"net_profit", true, func(d *metrics.Document) *int64 { return &d.NetProfit }},
	{"total_tips", false, func(d *metrics.Document) *int64 { return &d.TotalTips }},
}

// DayBounds returns the start of a business date and of the next one in
// loc: midnight to midnight of the branch's wall clock, 23 or 25 hours long
// across a DST change.
func DayBounds(date time.Time, loc *time.Location) (start, next time.Time) {
	y, m, d := date.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// args are the contract's parameters as text, which the server reads into
// whatever type the query gives them: with the UTC offset, a timestamptz is
// the exact instant whatever the session's TimeZone; a timestamp (without
// time zone) gets the branch's wall clock.
func args(date time.Time, loc *time.Location) []any {
	start, next := DayBounds(date, loc)
	return []any{start.Format(time.RFC3339), next.Format(time.RFC3339), date.Format(time.DateOnly)}
}

// compute runs q for date on conn, in a read-only transaction (a query
// file cannot write), and returns the figures, derived ones filled or
// checked; the identity fields of the document are left empty.
func (q Query) compute(ctx context.Context, conn *pgx.Conn, date time.Time, loc *time.Location) (metrics.Document, error) {
	p, err := q.Prepare(ctx, conn)
	if err != nil {
		return metrics.Document{}, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return metrics.Document{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	return p.Run(ctx, tx, date, loc)
}

// Prepared is a query prepared on one connection, to run in a transaction
// of that connection: the backup prepares it before opening the dump's
// snapshot and runs it inside.
type Prepared struct {
	q       Query
	sql     string
	nparams int
}

// Preparer prepares a statement: a *pgx.Conn outside a transaction, or
// something that wraps each attempt in a savepoint inside one (a refused
// statement must not abort the transaction).
type Preparer interface {
	Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error)
}

// Prepare prepares q with conn.
func (q Query) Prepare(ctx context.Context, conn Preparer) (Prepared, error) {
	sql, n, err := q.prepare(ctx, conn)
	if err != nil {
		return Prepared{}, err
	}
	return Prepared{q: q, sql: sql, nparams: n}, nil
}

// Run computes date's figures in tx (whose snapshot they then reflect),
// derived ones filled or checked; the identity fields are left empty.
func (p Prepared) Run(ctx context.Context, tx pgx.Tx, date time.Time, loc *time.Location) (metrics.Document, error) {
	q := p.q
	a := args(date, loc)
	if p.nparams < len(a) {
		a = a[:p.nparams]
	}
	rows, err := tx.Query(ctx, p.sql, a...)
	if err != nil {
		return metrics.Document{}, q.serverErr("failed", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return metrics.Document{}, q.serverErr("failed", err)
		}
		return metrics.Document{}, &QueryError{Source: q.source, Problem: "returned no row, want exactly one"}
	}
	vals, err := rows.Values()
	if err != nil {
		return metrics.Document{}, q.serverErr("returned an unreadable row", err)
	}
	fields := rows.FieldDescriptions()
	if rows.Next() {
		return metrics.Document{}, &QueryError{Source: q.source, Problem: "returned more than one row, want exactly one"}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return metrics.Document{}, q.serverErr("failed", err)
	}
	return q.figures(fields, vals, tx.Conn().TypeMap())
}

// LastFinalDay is the newest business date whose summary is final at
// `at`: today once the daily summary time has passed, else yesterday.
func LastFinalDay(at time.Time, finalAt TimeOfDay, loc *time.Location) time.Time {
	today := Today(at, loc)
	if IsFinal(today, at, finalAt, loc) {
		return today
	}
	return today.AddDate(0, 0, -1)
}

// paramTypes are the contract's parameter types, $1 to $3.
var paramTypes = [...]string{"timestamptz", "timestamptz", "date"}

var undetermined = regexp.MustCompile(`could not determine data type of parameter \$([123])\b`)

// prepare prepares q on conn and returns the SQL to run and how many
// parameters it takes. A file may leave out $1 or $2 (say it reads a
// business date column with $3 only); the server cannot type a parameter
// it never sees, so such a query is wrapped to mention it with its
// contract type. Preparing outside the transaction keeps a refused
// statement from aborting it.
func (q Query) prepare(ctx context.Context, conn Preparer) (string, int, error) {
	sql := q.sql
	for range len(paramTypes) + 1 {
		sd, err := conn.Prepare(ctx, sql, sql)
		if err == nil {
			return sql, len(sd.ParamOIDs), nil
		}
		pgErr, ok := errors.AsType[*pgconn.PgError](err)
		m := []string(nil)
		if ok && pgErr.Code == "42P18" {
			m = undetermined.FindStringSubmatch(pgErr.Message)
		}
		if m == nil {
			return "", 0, q.serverErr("was refused by the server", err)
		}
		k := int(m[1][0] - '0')
		body := strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n")
		sql = fmt.Sprintf("SELECT q.* FROM (\n%s\n) AS q WHERE $%d::%s IS NOT NULL", body, k, paramTypes[k-1])
	}
	return "", 0, &QueryError{Source: q.source, Problem: "was refused by the server: its parameters cannot be typed"}
}

func (q Query) serverErr(problem string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || !isQueryFault(pgErr.Code) {
		return fmt.Errorf("run metrics query: %w", err) // the database, not the query: unreachable, shutting down...
	}
	if q.IsDefault() && pgErr.Code == "42P01" {
		problem += " (the default query reads the reference schema; set METRICS_QUERY_FILE if the POS keeps its data elsewhere)"
	}
	return &QueryError{Source: q.source, Problem: problem, Err: err}
}

// isQueryFault tells a fault of the SQL (syntax, unknown table or column,
// bad data conversion, an attempt to write) from one of the server or the
// connection, by SQLSTATE class.
func isQueryFault(code string) bool {
	switch {
	case len(code) < 2:
		return false
	case code == "25006": // read_only_sql_transaction: the query tried to write
		return true
	}
	switch code[:2] {
	case "42", "22", "21", "0A", "2F", "P0", "39", "38", "23":
		return true
	}
	return false
}

// figures reads the row into a document: every base figure must be there,
// each an integer (any integer type, or a numeric without a fraction).
func (q Query) figures(fields []pgconn.FieldDescription, vals []any, types *pgtype.Map) (metrics.Document, error) {
	index := map[string]int{}
	for i, f := range fields {
		if _, dup := index[f.Name]; dup {
			return metrics.Document{}, &QueryError{Source: q.source, Column: f.Name, Problem: "appears more than once"}
		}
		index[f.Name] = i
	}
	var d metrics.Document
	given := map[string]int64{}
	for _, f := range figures {
		i, ok := index[f.name]
		if !ok {
			if f.derived {
				continue
			}
			return metrics.Document{}, &QueryError{Source: q.source, Column: f.name, Problem: "is missing from the result"}
		}
		v, err := integer(vals[i])
		if err != nil {
			typ := fmt.Sprintf("type oid %d", fields[i].DataTypeOID)
			if t, ok := types.TypeForOID(fields[i].DataTypeOID); ok {
				typ = t.Name
			}
			return metrics.Document{}, &QueryError{Source: q.source, Column: f.name, Problem: fmt.Sprintf("is %s (%s), want an integer number of paise", err, typ)}
		}
		*f.ptr(&d) = v
		if f.derived {
			given[f.name] = v
		}
	}
	d.Derive()
	for _, f := range figures {
		if v, ok := given[f.name]; ok {
			*f.ptr(&d) = v // kept as the query gave it: Validate checks it
		}
	}
	return d, nil
}

// errNotInteger describes a value that is not an integer.
type errNotInteger string

func (e errNotInteger) Error() string { return string(e) }

// integer converts a decoded column value to int64.
func integer(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, errNotInteger("NULL")
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case pgtype.Numeric:
		n, err := x.Int64Value()
		if err != nil || !n.Valid {
			f, _ := x.Float64Value()
			return 0, errNotInteger(fmt.Sprintf("%v, not a whole number in range", f.Float64))
		}
		return n.Int64, nil
	case string:
		return 0, errNotInteger(fmt.Sprintf("%q", excerpt(x)))
	default:
		return 0, errNotInteger(fmt.Sprintf("%v", v))
	}
}

func excerpt(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// Compute runs q for date on conn in a read-only REPEATABLE READ
// transaction and returns the figures, derived ones filled or checked; the
// identity fields are left empty. A restore drill recomputes a day with it.
func (q Query) Compute(ctx context.Context, conn *pgx.Conn, date time.Time, loc *time.Location) (metrics.Document, error) {
	return q.compute(ctx, conn, date, loc)
}
