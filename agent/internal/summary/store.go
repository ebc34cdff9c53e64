package summary

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// figureColumns is the comma-separated list of figure columns, spec order.
var figureColumns = func() string {
	names := make([]string, len(figures))
	for i, f := range figures {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}()

// upsertSQL stores a summary; an existing final one is replaced only when
// forced ($force), and a replaced one is no longer marked pushed.
var upsertSQL = func() string {
	var vals, sets []string
	for i, f := range figures {
		vals = append(vals, "$"+strconv.Itoa(i+2))
		sets = append(sets, f.name+" = EXCLUDED."+f.name)
	}
	n := len(figures) + 2
	return fmt.Sprintf(`INSERT INTO branch_agent.day_summaries
		(summary_date, %s, is_final, generated_at, query_source)
		VALUES ($1::date, %s, $%d, $%d, $%d)
		ON CONFLICT (summary_date) DO UPDATE SET %s,
			is_final = EXCLUDED.is_final, generated_at = EXCLUDED.generated_at,
			query_source = EXCLUDED.query_source, pushed_at = NULL
		WHERE NOT branch_agent.day_summaries.is_final OR $%d::boolean`,
		figureColumns, strings.Join(vals, ", "), n, n+1, n+2, strings.Join(sets, ", "), n+3)
}()

// store writes doc for date; false when a final summary is kept (not
// forced).
func (s *Summarizer) store(ctx context.Context, date time.Time, doc metrics.Document, force bool) (bool, error) {
	generated, err := doc.GeneratedTime()
	if err != nil {
		return false, err
	}
	args := []any{date.Format(time.DateOnly)}
	for _, f := range figures {
		args = append(args, *f.ptr(&doc))
	}
	args = append(args, doc.IsFinal, generated, s.cfg.Query.Source(), force)
	tag, err := s.db.Exec(ctx, upsertSQL, args...)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Document reads date's stored summary as a metrics document; found is
// false when there is none.
func (s *Summarizer) Document(ctx context.Context, date time.Time) (doc metrics.Document, st Stored, found bool, err error) {
	if err := s.ensureSchema(ctx); err != nil {
		return doc, st, false, err
	}
	date = Civil(date)
	dest := make([]any, 0, len(figures)+3)
	for _, f := range figures {
		dest = append(dest, f.ptr(&doc))
	}
	dest = append(dest, &st.Final, &st.GeneratedAt, &st.Pushed)
	err = s.db.QueryRow(ctx, "SELECT "+figureColumns+", is_final, generated_at, pushed_at IS NOT NULL FROM branch_agent.day_summaries WHERE summary_date = $1::date",
		date.Format(time.DateOnly)).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return metrics.Document{}, Stored{}, false, nil
	}
	if err != nil {
		return metrics.Document{}, Stored{}, false, fmt.Errorf("read summary of %s: %w", date.Format(time.DateOnly), err)
	}
	s.identify(&doc, date, st.GeneratedAt, st.Final)
	return doc, st, true, nil
}

// Stored lists the stored summaries from `from` to `to` (inclusive), keyed
// by date (YYYY-MM-DD).
func (s *Summarizer) Stored(ctx context.Context, from, to time.Time) (map[string]Stored, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT summary_date, is_final, generated_at, pushed_at IS NOT NULL
		FROM branch_agent.day_summaries WHERE summary_date BETWEEN $1::date AND $2::date`,
		Civil(from).Format(time.DateOnly), Civil(to).Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("list stored summaries: %w", err)
	}
	defer rows.Close()
	out := map[string]Stored{}
	for rows.Next() {
		var d time.Time
		var st Stored
		if err := rows.Scan(&d, &st.Final, &st.GeneratedAt, &st.Pushed); err != nil {
			return nil, fmt.Errorf("list stored summaries: %w", err)
		}
		out[d.Format(time.DateOnly)] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list stored summaries: %w", err)
	}
	return out, nil
}

// MarkPushed records that doc reached its destination. A summary
// recomputed since doc was read stays unmarked, so that it is pushed again.
func (s *Summarizer) MarkPushed(ctx context.Context, doc metrics.Document) error {
	generated, err := doc.GeneratedTime()
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE branch_agent.day_summaries SET pushed_at = now()
		WHERE summary_date = $1::date AND generated_at = $2`, doc.SummaryDate, generated); err != nil {
		return fmt.Errorf("mark summary of %s pushed: %w", doc.SummaryDate, err)
	}
	return nil
}

// EarliestDate is the earliest business date holding any row of the
// reference schema (bills, payments, refunds or expenses). known is false
// when there is no data, or when a METRICS_QUERY_FILE is in use (the agent
// cannot know where that query's data starts).
func (s *Summarizer) EarliestDate(ctx context.Context) (date time.Time, known bool, err error) {
	if !s.cfg.Query.IsDefault() {
		return time.Time{}, false, nil
	}
	var bill, paid, refunded, spent *time.Time
	err = s.db.QueryRow(ctx, `SELECT (SELECT min(billed_at) FROM bills), (SELECT min(paid_at) FROM payments),
		(SELECT min(refunded_at) FROM refunds), (SELECT min(spent_on) FROM expenses)`).Scan(&bill, &paid, &refunded, &spent)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find the earliest business date: %w", err)
	}
	for _, t := range []*time.Time{bill, paid, refunded} {
		if t != nil {
			if d := Civil(t.In(s.cfg.Location)); !known || d.Before(date) {
				date, known = d, true
			}
		}
	}
	if spent != nil { // already a business date
		if d := Civil(*spent); !known || d.Before(date) {
			date, known = d, true
		}
	}
	return date, known, nil
}

// Check prepares the query and checks that its result has every required
// column, without running it: a broken METRICS_QUERY_FILE is found at
// start-up rather than at summary time. Errors that are the query's are
// *QueryError.
func (s *Summarizer) Check(ctx context.Context) error {
	q := s.cfg.Query
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("check metrics query: connect to the branch database: %w", err)
	}
	defer conn.Release()
	sql, _, err := q.prepare(ctx, conn.Conn())
	if err != nil {
		return err
	}
	sd, err := conn.Conn().Prepare(ctx, sql, sql)
	if err != nil {
		return q.serverErr("was refused by the server", err)
	}
	have := map[string]bool{}
	for _, f := range sd.Fields {
		have[f.Name] = true
	}
	for _, f := range figures {
		if !f.derived && !have[f.name] {
			return &QueryError{Source: q.source, Column: f.name, Problem: "is missing from the result"}
		}
	}
	return nil
}
