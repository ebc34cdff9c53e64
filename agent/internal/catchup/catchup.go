// Package catchup fills what the agent missed while it was not running:
// day summaries from the earliest business date in the data (bounded by
// SUMMARY_CATCHUP_MAX_DAYS) up to yesterday, and metrics documents of the
// last METRICS_CATCHUP_DAYS days that the bucket lacks, found with one
// listing of the branch's metrics prefix.
package catchup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Summarizer is what the catch-ups need of the summary store
// (*summary.Summarizer).
type Summarizer interface {
	push.Summaries
	Today() time.Time
	Query() summary.Query
	EarliestDate(ctx context.Context) (time.Time, bool, error)
	Stored(ctx context.Context, from, to time.Time) (map[string]summary.Stored, error)
	Document(ctx context.Context, date time.Time) (metrics.Document, summary.Stored, bool, error)
}

// Publisher is what the metrics catch-up needs of the push side
// (*push.Publisher).
type Publisher interface {
	Present(ctx context.Context, from time.Time) (map[string]push.Existing, error)
	Same(ctx context.Context, doc metrics.Document, have push.Existing) (bool, error)
	PushDate(ctx context.Context, s push.Summaries, date time.Time, force bool) (metrics.Document, string, error)
}

// maxConsecutiveFailures stops a catch-up that keeps failing (the database
// went away): the next run starts over.
const maxConsecutiveFailures = 3

// Result says what a catch-up did; dates are YYYY-MM-DD.
type Result struct {
	From, To time.Time // the window considered (From after To: nothing to do)
	Done     []string  // summarized, or pushed
	Failed   []string
}

// Summaries computes the summary of every date from the earliest business
// date in the data (at most maxDays before today) up to yesterday that has
// no final summary yet. With a METRICS_QUERY_FILE the earliest date is not
// known, and the window is the last maxDays days.
func Summaries(ctx context.Context, s Summarizer, maxDays int, logger *slog.Logger) (Result, error) {
	logger = logger.With("component", "catchup")
	today := s.Today()
	res := Result{From: today.AddDate(0, 0, -maxDays), To: today.AddDate(0, 0, -1)}
	if s.Query().IsDefault() {
		earliest, known, err := s.EarliestDate(ctx)
		if err != nil {
			return res, fmt.Errorf("summary catch-up: %w", err)
		}
		if !known {
			logger.Info("summary catch-up: no data yet")
			return Result{From: today, To: today.AddDate(0, 0, -1)}, nil
		}
		if earliest.After(res.From) {
			res.From = earliest
		}
	}
	stored, err := s.Stored(ctx, res.From, res.To)
	if err != nil {
		return res, fmt.Errorf("summary catch-up: %w", err)
	}
	err = eachDate(ctx, &res, func(ctx context.Context, d time.Time) (bool, error) {
		if st, ok := stored[d.Format(time.DateOnly)]; ok && st.Final {
			return false, nil
		}
		_, err := s.Summarize(ctx, d, false)
		return true, err
	})
	logger.Info("summary catch-up done", "from", res.From.Format(time.DateOnly), "to", res.To.Format(time.DateOnly),
		"summarized", len(res.Done), "failed", len(res.Failed))
	if err != nil {
		return res, fmt.Errorf("summary catch-up: %w", err)
	}
	return res, nil
}

// Metrics pushes the documents of the last `days` days (up to yesterday,
// and not before the earliest business date in the data when the default
// query is used) that the bucket lacks, whose summary changed since it
// was pushed, or whose stored bytes are not the stored summary's document
// (overwritten with garbage, or by another agent): one listing finds what
// the bucket holds, with sizes and ETags that settle most comparisons
// without reading the objects (push.Publisher.Same).
func Metrics(ctx context.Context, s Summarizer, p Publisher, days int, logger *slog.Logger) (Result, error) {
	logger = logger.With("component", "catchup")
	today := s.Today()
	res := Result{From: today.AddDate(0, 0, -days), To: today.AddDate(0, 0, -1)}
	if days <= 0 {
		return res, nil
	}
	// Days before the branch's first business day hold no figures: pushing
	// zeros for them would show a branch that did not exist yet as open
	// and empty (and drag down its averages).
	if s.Query().IsDefault() {
		earliest, known, err := s.EarliestDate(ctx)
		if err != nil {
			return res, fmt.Errorf("metrics catch-up: %w", err)
		}
		if !known {
			logger.Info("metrics catch-up: no data yet")
			return Result{From: today, To: today.AddDate(0, 0, -1)}, nil
		}
		if earliest.After(res.From) {
			res.From = earliest
		}
	}
	present, err := p.Present(ctx, res.From)
	if err != nil {
		return res, fmt.Errorf("metrics catch-up: %w", err)
	}
	stored, err := s.Stored(ctx, res.From, res.To)
	if err != nil {
		return res, fmt.Errorf("metrics catch-up: %w", err)
	}
	err = eachDate(ctx, &res, func(ctx context.Context, d time.Time) (bool, error) {
		day := d.Format(time.DateOnly)
		if have, ok := present[day]; ok && stored[day].Pushed {
			doc, _, found, err := s.Document(ctx, d)
			if err != nil {
				return false, err
			}
			if found {
				same, err := p.Same(ctx, doc, have)
				if err != nil {
					return false, err
				}
				if same {
					return false, nil
				}
				logger.Warn("the stored document differs from the summary it was pushed from: pushing it again", "date", day)
			}
		}
		_, _, err := p.PushDate(ctx, s, d, false)
		return true, err
	})
	logger.Info("metrics catch-up done", "from", res.From.Format(time.DateOnly), "to", res.To.Format(time.DateOnly),
		"pushed", len(res.Done), "failed", len(res.Failed))
	if err != nil {
		return res, fmt.Errorf("metrics catch-up: %w", err)
	}
	return res, nil
}

// Run is both catch-ups, summaries first; the metrics catch-up runs even
// when the summary one failed for some dates.
func Run(ctx context.Context, s Summarizer, p Publisher, summaryMaxDays, metricsDays int, logger *slog.Logger) (sums, pushes Result, err error) {
	sums, err1 := Summaries(ctx, s, summaryMaxDays, logger)
	if ctx.Err() != nil {
		return sums, pushes, err1
	}
	pushes, err2 := Metrics(ctx, s, p, metricsDays, logger)
	return sums, pushes, errors.Join(err1, err2)
}

// workers is how many dates a catch-up works on at once: the database
// runs one query per connection on one core, and a branch server has a
// few.
const workers = 2

// eachDate calls do for every date of res's window, `workers` at a time,
// and records what was done and what failed, in date order. It goes on past
// a failing date (one bad day must not block the others) but stops after
// maxConsecutiveFailures in a row or when ctx ends.
func eachDate(ctx context.Context, res *Result, do func(context.Context, time.Time) (bool, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var dates []time.Time
	for d := res.From; !d.After(res.To); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d)
	}
	type outcome struct {
		ran, did bool
		err      error
	}
	outs := make([]outcome, len(dates))
	var (
		mu     sync.Mutex
		streak int
		gaveUp error
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, workers)
dispatch:
	for i, d := range dates {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		wg.Go(func() {
			defer func() { <-sem }()
			did, err := do(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			outs[i] = outcome{ran: true, did: did, err: err}
			if err == nil {
				streak = 0
				return
			}
			if streak++; streak >= maxConsecutiveFailures && gaveUp == nil {
				gaveUp = fmt.Errorf("gave up after %d failures in a row", streak)
				cancel()
			}
		})
	}
	wg.Wait()
	var errs []error
	for i, o := range outs {
		day := dates[i].Format(time.DateOnly)
		switch {
		case o.err != nil:
			res.Failed = append(res.Failed, day)
			errs = append(errs, o.err)
		case o.did:
			res.Done = append(res.Done, day)
		}
	}
	if gaveUp != nil {
		errs = append(errs, gaveUp)
	} else if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
