// Package summary computes and stores the daily summaries of a branch: one
// row per business date in the agent's own schema (branch_agent) of the
// branch database, with every figure of metrics-v1.md, is_final and
// generated_at. Figures come from the default query over the reference
// schema or from a METRICS_QUERY_FILE; business dates are the branch's
// (BRANCH_TIMEZONE), whatever the time zone of the server or the host.
// Invariants are checked before anything is stored, and a final summary is
// kept unless recomputation is forced.
package summary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Config is what a Summarizer needs besides the database.
type Config struct {
	BranchID   string
	BranchName string
	Currency   string         // ISO 4217; metrics.DefaultCurrency when ""
	Location   *time.Location // BRANCH_TIMEZONE
	Query      Query          // DefaultQuery() when zero
	// FinalAt is the daily summary time: today's summary is final from then.
	FinalAt TimeOfDay
	Now     func() time.Time // time.Now when nil
}

// Summarizer computes, stores and reads day summaries.
type Summarizer struct {
	db     *pgxpool.Pool
	cfg    Config
	logger *slog.Logger

	mu       sync.Mutex
	migrated bool
}

// Outcome is the result of Summarize.
type Outcome struct {
	Document metrics.Document
	// Computed is false when a stored final summary was kept as it was.
	Computed bool
}

// Stored describes one stored summary.
type Stored struct {
	Final       bool
	GeneratedAt time.Time
	Pushed      bool // its document reached the bucket (or local directory)
}

// New checks cfg; it does not touch the database (which may be down when
// the daemon starts): the schema is migrated on first use.
func New(db *pgxpool.Pool, cfg Config, logger *slog.Logger) (*Summarizer, error) {
	if db == nil {
		return nil, errors.New("summary: no database")
	}
	if err := layout.ValidateBranchID(cfg.BranchID); err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if cfg.Location == nil {
		return nil, errors.New("summary: no time zone")
	}
	if cfg.BranchName == "" {
		cfg.BranchName = cfg.BranchID
	}
	if cfg.Currency == "" {
		cfg.Currency = metrics.DefaultCurrency
	}
	if cfg.Query.sql == "" {
		cfg.Query = DefaultQuery()
	}
	if cfg.FinalAt == (TimeOfDay{}) {
		cfg.FinalAt = DefaultFinalTime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Summarizer{db: db, cfg: cfg, logger: logger.With("component", "summary")}, nil
}

// Location is the branch's time zone.
func (s *Summarizer) Location() *time.Location { return s.cfg.Location }

// Query is the query in use.
func (s *Summarizer) Query() Query { return s.cfg.Query }

// Today is the branch's current business date.
func (s *Summarizer) Today() time.Time { return Today(s.cfg.Now(), s.cfg.Location) }

// ensureSchema migrates the agent's schema once per process; a failure is
// retried on the next call.
func (s *Summarizer) ensureSchema(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.migrated {
		return nil
	}
	applied, err := Migrate(ctx, s.db)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		s.logger.Info("migrated the agent's schema", "schema", Schema, "applied", applied)
	}
	s.migrated = true
	return nil
}

// Summarize computes date's summary and stores it, unless a final summary
// is stored and force is false (then the stored one is returned). Nothing
// is stored when the query breaks its contract or the figures break an
// invariant. A date after today is refused.
func (s *Summarizer) Summarize(ctx context.Context, date time.Time, force bool) (Outcome, error) {
	date = Civil(date)
	day := date.Format(time.DateOnly)
	if today := s.Today(); date.After(today) {
		return Outcome{}, fmt.Errorf("summarize %s: the date is in the future (today is %s in %s)", day, today.Format(time.DateOnly), s.cfg.Location)
	}
	if err := s.ensureSchema(ctx); err != nil {
		return Outcome{}, fmt.Errorf("summarize %s: %w", day, err)
	}
	if !force {
		doc, st, found, err := s.Document(ctx, date)
		if err != nil {
			return Outcome{}, fmt.Errorf("summarize %s: %w", day, err)
		}
		if found && st.Final {
			return Outcome{Document: doc}, nil
		}
	}
	doc, err := s.Compute(ctx, date)
	if err != nil {
		return Outcome{}, fmt.Errorf("summarize %s: %w", day, err)
	}
	stored, err := s.store(ctx, date, doc, force)
	if err != nil {
		return Outcome{}, fmt.Errorf("summarize %s: store: %w", day, err)
	}
	if !stored { // a final summary appeared meanwhile (another agent process)
		doc, _, _, err := s.Document(ctx, date)
		return Outcome{Document: doc}, err
	}
	s.logger.Info("summary stored", "date", day, "is_final", doc.IsFinal, "total_bills", doc.TotalBills,
		"net_revenue", doc.NetRevenue, "query", s.cfg.Query.Source())
	return Outcome{Document: doc, Computed: true}, nil
}

// Compute runs the query for date and returns the document, checked
// against every rule of metrics.Document.Validate; it stores nothing.
func (s *Summarizer) Compute(ctx context.Context, date time.Time) (metrics.Document, error) {
	date = Civil(date)
	now := s.cfg.Now().In(s.cfg.Location).Truncate(time.Second)
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return metrics.Document{}, fmt.Errorf("connect to the branch database: %w", err)
	}
	defer conn.Release()
	doc, err := s.cfg.Query.compute(ctx, conn.Conn(), date, s.cfg.Location)
	if err != nil {
		return metrics.Document{}, err
	}
	s.identify(&doc, date, now, IsFinal(date, now, s.cfg.FinalAt, s.cfg.Location))
	if err := doc.Validate(); err != nil {
		return metrics.Document{}, fmt.Errorf("%s: figures break the metrics rules, nothing stored: %w", s.sourceName(), err)
	}
	return doc, nil
}

func (s *Summarizer) sourceName() string {
	if s.cfg.Query.IsDefault() {
		return "default metrics query"
	}
	return "metrics query file " + s.cfg.Query.Source()
}

// identify fills the document's identity fields.
func (s *Summarizer) identify(d *metrics.Document, date, generated time.Time, final bool) {
	d.SchemaVersion = metrics.SchemaVersion
	d.BranchID = s.cfg.BranchID
	d.BranchName = s.cfg.BranchName
	d.SummaryDate = date.Format(layout.DateFormat)
	d.GeneratedAt = metrics.FormatGeneratedAt(generated.In(s.cfg.Location))
	d.IsFinal = final
	d.Currency = s.cfg.Currency
}
