// Package bundler writes the monthly bundles of a branch's metrics
// documents ({branch}/metrics/monthly/YYYY-MM.json, shared/bundle): once a
// month is closed, every final daily document of it, in date order, each
// with the very bytes the bucket holds under its daily key.
//
// A month is closed on the 3rd of the next month in the branch's zone:
// by then the daily push of its last day, and the catch-up behind it, have
// had two days to land. A run lists the branch's metrics prefix once, and
// writes a bundle for every closed month that has daily documents and no
// bundle yet, so a bundle is written once and a missed month is written by
// the next run. A daily document rewritten after its month's bundle stays
// as it is: the aggregator sees it is newer than the bundle and reads it
// alone.
package bundler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/branchwatch/branchwatch/shared/bundle"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// ContentType of a bundle.
const ContentType = "application/json"

// CloseDay is the day of the next month from which a month counts as closed.
const CloseDay = 3

// Writer writes one branch's bundles.
type Writer struct {
	Branch   string
	Store    store.Store
	Location *time.Location // the branch's zone: when a month closes
	Now      func() time.Time
	Logger   *slog.Logger
}

// Result says what a run did; months are YYYY-MM.
type Result struct {
	Written []string
	Skipped []string // no final document: tried again by the next run
	Failed  []string
}

// Closed reports whether the month starting at month (any day of it) is
// closed on the civil date today: today is on or after the CloseDay-th of
// the next month.
func Closed(month, today time.Time) bool {
	first := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	closes := first.AddDate(0, 1, CloseDay-1)
	t := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	return !t.Before(closes)
}

// monthWork is one month's daily objects, in key (date) order.
type monthWork struct {
	month string
	daily []store.ObjectInfo
}

// Run writes the missing bundles of closed months. It goes on past a
// month that fails and returns an error naming every failed month.
func (w *Writer) Run(ctx context.Context) (Result, error) {
	var res Result
	if err := layout.ValidateBranchID(w.Branch); err != nil {
		return res, fmt.Errorf("monthly bundles: %w", err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	logger := w.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "bundler")
	today := now().In(loc)

	prefix, _ := layout.MetricsPrefix(w.Branch)
	months := map[string]*monthWork{}
	have := map[string]bool{}
	for o, err := range store.All(ctx, w.Store, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return res, fmt.Errorf("monthly bundles: list metrics: %w", err)
		}
		k, err := layout.ParseKey(o.Key, time.UTC)
		if err != nil || k.Branch != w.Branch {
			continue // not ours to judge: the aggregator reports stray keys
		}
		m := k.Date.Format(layout.MonthFormat)
		switch k.Kind {
		case layout.MonthlyKind:
			have[m] = true
		case layout.MetricsDir:
			if !Closed(k.Date, today) {
				continue
			}
			mw := months[m]
			if mw == nil {
				mw = &monthWork{month: m}
				months[m] = mw
			}
			mw.daily = append(mw.daily, o)
		}
	}
	todo := make([]*monthWork, 0, len(months))
	for m, mw := range months {
		if !have[m] {
			todo = append(todo, mw)
		}
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].month < todo[j].month })

	var errs []error
	for _, mw := range todo {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		key, n, err := w.write(ctx, mw, now(), logger)
		if errors.Is(err, errNothingFinal) {
			res.Skipped = append(res.Skipped, mw.month)
			logger.Warn("monthly bundle not written: no final document in the month", "month", mw.month)
			continue
		}
		if err != nil {
			res.Failed = append(res.Failed, mw.month)
			errs = append(errs, err)
			logger.Error("monthly bundle not written", "month", mw.month, "err", err)
			continue
		}
		res.Written = append(res.Written, mw.month)
		logger.Info("monthly bundle written", "month", mw.month, "key", key, "documents", n)
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("monthly bundles: %d of %d months failed: %w", len(res.Failed), len(todo), err)
	}
	return res, nil
}

var errNothingFinal = errors.New("no final document")

// write reads the month's daily documents and puts its bundle. Only
// final documents that decode and validate go in; any other stays out of
// the bundle, so that the aggregator reads (and judges) it alone.
func (w *Writer) write(ctx context.Context, mw *monthWork, now time.Time, logger *slog.Logger) (string, int, error) {
	month, err := layout.ParseMonth(mw.month)
	if err != nil {
		return "", 0, err
	}
	key, err := layout.MonthlyKey(w.Branch, month)
	if err != nil {
		return "", 0, err
	}
	b := bundle.Bundle{SchemaVersion: bundle.CurrentVersion, BranchID: w.Branch, Month: mw.month,
		GeneratedAt: bundle.Stamp(now.In(w.loc())), Documents: []bundle.Entry{}}
	for _, o := range mw.daily {
		body, err := w.get(ctx, o.Key)
		if store.IsNotFound(err) {
			continue // deleted since the listing
		}
		if err != nil {
			return "", 0, fmt.Errorf("bundle %s: %w", mw.month, err)
		}
		d, err := metrics.Unmarshal(body)
		if err == nil {
			err = d.Validate()
		}
		if err == nil {
			err = d.CheckKey(o.Key)
		}
		if err != nil {
			logger.Warn("daily document left out of its monthly bundle", "key", o.Key, "reason", err)
			continue
		}
		if !d.IsFinal {
			logger.Warn("daily document left out of its monthly bundle: not final", "key", o.Key)
			continue
		}
		b.Documents = append(b.Documents, bundle.NewEntry(d.SummaryDate, body))
	}
	if len(b.Documents) == 0 {
		return "", 0, errNothingFinal
	}
	if err := b.Validate(); err != nil {
		return "", 0, fmt.Errorf("bundle %s: %w", mw.month, err)
	}
	data, err := b.Marshal()
	if err != nil {
		return "", 0, err
	}
	if _, err := w.Store.Put(ctx, key, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), ContentType: ContentType}); err != nil {
		return "", 0, fmt.Errorf("bundle %s: %w", mw.month, err)
	}
	return key, len(b.Documents), nil
}

func (w *Writer) loc() *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// get reads one daily object, refusing one over the document size limit.
func (w *Writer) get(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := w.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, metrics.MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return body, nil
}
