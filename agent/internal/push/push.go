// Package push delivers daily metrics documents: to the bucket as
// {branch}/metrics/{YYYY-MM-DD}.json, or in local-only mode to
// BACKUP_DIR/metrics/YYYY-MM-DD.json. The same date overwrites (idempotent),
// and a document is pushed only once its summary is stored.
package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// ContentType of a pushed document.
const ContentType = "application/json"

// LocalDirName is the folder under BACKUP_DIR holding documents in
// local-only mode.
const LocalDirName = "metrics"

// Publisher pushes one branch's documents.
type Publisher struct {
	branch string
	st     store.Store // nil: local-only
	dir    string      // BACKUP_DIR/metrics, local-only
	logger *slog.Logger

	// Instance is this agent's instance id (package instance), put in
	// each pushed object's metadata; "" puts none.
	Instance string
	// Now is the clock that tells a recent object from an old one
	// (time.Now when nil).
	Now func() time.Time

	conflicts atomic.Int64
}

// New returns a Publisher to st, or to backupDir/metrics when st is nil
// (local-only mode).
func New(branch string, st store.Store, backupDir string, logger *slog.Logger) (*Publisher, error) {
	if err := layout.ValidateBranchID(branch); err != nil {
		return nil, fmt.Errorf("metrics push: %w", err)
	}
	p := &Publisher{branch: branch, st: st, logger: logger.With("component", "push")}
	if st == nil {
		if backupDir == "" {
			return nil, errors.New("metrics push: local-only mode needs BACKUP_DIR")
		}
		p.dir = filepath.Join(backupDir, LocalDirName)
	}
	return p, nil
}

// Local reports whether documents stay on disk.
func (p *Publisher) Local() bool { return p.st == nil }

// Push validates doc and writes it, replacing any document of the same
// date. It returns where it went: the bucket key, or the local path.
func (p *Publisher) Push(ctx context.Context, doc metrics.Document) (string, error) {
	if doc.BranchID != p.branch {
		return "", fmt.Errorf("push metrics of %s: document is for branch %q, not %q", doc.SummaryDate, doc.BranchID, p.branch)
	}
	if err := doc.Validate(); err != nil {
		return "", fmt.Errorf("push metrics of %s: refusing an invalid document: %w", doc.SummaryDate, err)
	}
	date, err := layout.ParseDate(doc.SummaryDate)
	if err != nil {
		return "", fmt.Errorf("push metrics: %w", err)
	}
	body, err := doc.Marshal()
	if err != nil {
		return "", fmt.Errorf("push metrics of %s: %w", doc.SummaryDate, err)
	}
	if p.st == nil {
		path := filepath.Join(p.dir, doc.SummaryDate+layout.MetricsExt)
		if err := writeFileAtomic(path, body); err != nil {
			return "", fmt.Errorf("push metrics of %s: %w", doc.SummaryDate, err)
		}
		p.logger.Info("metrics written locally", "date", doc.SummaryDate, "path", path, "is_final", doc.IsFinal)
		return path, nil
	}
	key, err := layout.MetricsKey(p.branch, date)
	if err != nil {
		return "", fmt.Errorf("push metrics: %w", err)
	}
	p.checkWriter(ctx, key)
	opts := store.PutOptions{Size: int64(len(body)), ContentType: ContentType}
	if p.Instance != "" {
		opts.Metadata = map[string]string{instance.MetadataKey: p.Instance}
	}
	if _, err := p.st.Put(ctx, key, bytes.NewReader(body), opts); err != nil {
		return "", fmt.Errorf("push metrics of %s: %w", doc.SummaryDate, err)
	}
	p.logger.Info("metrics pushed", "date", doc.SummaryDate, "key", key, "is_final", doc.IsFinal)
	return key, nil
}

// Existing is what a listing says of a stored document.
type Existing struct {
	Size int64
	ETag string // "" in local-only mode
}

// Present returns the dates from `from` on that have a document, with
// their size and ETag, from one listing of the branch's metrics prefix
// (starting after the day before `from`), not one request per day; or one
// directory read in local-only mode.
func (p *Publisher) Present(ctx context.Context, from time.Time) (map[string]Existing, error) {
	out := map[string]Existing{}
	first := summary.Civil(from).Format(layout.DateFormat)
	if p.st == nil {
		entries, err := os.ReadDir(p.dir)
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list local metrics: %w", err)
		}
		for _, e := range entries {
			d, ok := strings.CutSuffix(e.Name(), layout.MetricsExt)
			if _, err := layout.ParseDate(d); !ok || err != nil || !e.Type().IsRegular() || d < first {
				continue
			}
			if fi, err := e.Info(); err == nil {
				out[d] = Existing{Size: fi.Size()}
			}
		}
		return out, nil
	}
	prefix, err := layout.MetricsPrefix(p.branch)
	if err != nil {
		return nil, err
	}
	after, err := layout.MetricsKey(p.branch, summary.Civil(from).AddDate(0, 0, -1))
	if err != nil {
		return nil, err
	}
	for obj, err := range store.All(ctx, p.st, store.ListOptions{Prefix: prefix, StartAfter: after}) {
		if err != nil {
			return nil, fmt.Errorf("list metrics: %w", err)
		}
		k, err := layout.ParseKey(obj.Key, time.UTC)
		if err != nil || k.Kind != layout.MetricsDir {
			continue // not ours to judge: the aggregator reports stray keys
		}
		if d := k.Date.Format(layout.DateFormat); d >= first {
			out[d] = Existing{Size: obj.Size, ETag: obj.ETag}
		}
	}
	return out, nil
}

// Summaries is what PushDate needs of the summary store.
type Summaries interface {
	Summarize(ctx context.Context, date time.Time, force bool) (summary.Outcome, error)
	MarkPushed(ctx context.Context, doc metrics.Document) error
}

// PushDate summarizes date (the stored final summary when there is one,
// unless force) and pushes its document; nothing is pushed when the
// summary fails. It returns the document and where it went.
func (p *Publisher) PushDate(ctx context.Context, s Summaries, date time.Time, force bool) (metrics.Document, string, error) {
	out, err := s.Summarize(ctx, date, force)
	if err != nil {
		return metrics.Document{}, "", err
	}
	where, err := p.Push(ctx, out.Document)
	if err != nil {
		return out.Document, "", err
	}
	if err := s.MarkPushed(ctx, out.Document); err != nil {
		// Pushed all the same; the next catch-up pushes it again.
		p.logger.Warn("could not record the push", "date", out.Document.SummaryDate, "err", err)
	}
	return out.Document, where, nil
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, so that a reader never sees half a document.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".metrics-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
