package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/snapshot"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/store"
)

// measured is what the backup learnt in the dump's snapshot.
type measured struct {
	tables   []snapshot.Table
	day      *manifest.Day
	dayError string
	counting time.Duration // how long counting and the day's figures took
}

// inSnapshot opens a snapshot of the branch database, runs dump with
// pg_dump's --snapshot argument for it, and meanwhile counts every table's
// rows and computes the newest final business day's figures in the same
// snapshot. The snapshot's transaction stays open until dump returned. A
// failed day figure is recorded, not fatal: the metrics query is the
// summary job's business, the backup must not depend on it.
func (r *Runner) inSnapshot(ctx context.Context, started time.Time, dump func(snapshotArg string) error) (measured, error) {
	snap, err := snapshot.Open(ctx, r.opts.DatabaseURL, r.query)
	if err != nil {
		return measured{}, fmt.Errorf("backup: %w", err)
	}
	defer snap.Close(ctx)
	if r.OnSnapshot != nil {
		r.OnSnapshot(snap.ID)
	}
	var (
		m    measured
		merr error
		done = make(chan struct{})
	)
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(done)
		began := time.Now()
		defer func() { m.counting = time.Since(began) }()
		if m.tables, merr = snap.CountRows(mctx, r.opts.VerifyCountMaxRows); merr != nil {
			return
		}
		date := summary.LastFinalDay(started, r.finalAt, r.opts.Location)
		doc, err := snap.DayFigures(mctx, date, r.opts.Location)
		if err != nil {
			m.dayError = oneLine(fmt.Sprintf("%s: %v", date.Format(layout.DateFormat), err))
			return
		}
		doc.SummaryDate = date.Format(layout.DateFormat)
		m.day = manifest.DayFromDocument(doc)
	}()
	derr := dump("--snapshot=" + snap.ID)
	if derr != nil {
		cancel() // pg_dump failed: the counts are of no use
	}
	<-done
	if derr != nil {
		return m, derr
	}
	if merr != nil {
		return m, fmt.Errorf("backup: count rows in the dump's snapshot: %w", merr)
	}
	if m.dayError != "" {
		r.log.Warn("the day's figures could not be computed in the dump's snapshot: the manifest records why", "error", m.dayError)
	}
	return m, nil
}

// localManifest is the manifest of the dump just promoted, as written
// beside it in BACKUP_DIR: of the plain dump (its key unencrypted, its
// checksum and size the local file's), finished at finished. Only tables
// the dump's table of contents holds are listed (a counted table it lacks,
// say an extension's, is left out). forObject makes it the manifest of
// the uploaded object.
func (r *Runner) localManifest(d dumped, finished time.Time) (manifest.Manifest, error) {
	key, err := layout.BackupKey(r.opts.BranchID, d.taken, false)
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	m := manifest.Manifest{
		SchemaVersion: manifest.SchemaVersion,
		BranchID:      r.opts.BranchID,
		DumpKey:       key,
		SHA256:        d.sha256,
		Size:          d.size,
		PlainSHA256:   d.sha256,
		PlainSize:     d.size,
		ServerVersion: d.server.String(),
		PGDumpVersion: d.tool.Version.String(),
		AgentVersion:  AgentVersion,
		StartedAt:     d.taken.In(r.opts.Location).Format(time.RFC3339),
		FinishedAt:    finished.In(r.opts.Location).Format(time.RFC3339),
		Tables:        map[string]int64{},
		Day:           d.measured.day,
		DayError:      d.measured.dayError,
	}
	for _, t := range d.measured.tables {
		if !slices.Contains(d.tocTables, t.Name) {
			continue
		}
		if t.Counted() {
			m.Tables[t.Name] = t.Rows
		} else {
			m.NotCounted = append(m.NotCounted, t.Name)
		}
	}
	return m, m.Validate()
}

// forObject is the manifest of a local dump's manifest m once the dump is
// stored as obj (encrypted or not): its key, checksum and size.
func forObject(m manifest.Manifest, obj store.ObjectInfo) manifest.Manifest {
	m.DumpKey, m.SHA256, m.Size = obj.Key, obj.Metadata[MetaSHA256], obj.Size
	m.Encrypted = strings.HasSuffix(obj.Key, layout.EncryptedDumpExt)
	return m
}

// writeLocalManifest writes m beside the dump at path
// ({dump}.manifest.json), through a temporary file.
func writeLocalManifest(path string, m manifest.Manifest) error {
	body, err := m.Marshal()
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), tempPrefix+filepath.Base(path)+layout.ManifestExt)
	if err := os.WriteFile(tmp, body, 0o640); err != nil {
		return fmt.Errorf("write manifest of %s: %w", path, err)
	}
	if err := os.Rename(tmp, path+layout.ManifestExt); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write manifest of %s: %w", path, err)
	}
	return nil
}

// readLocalManifest reads and validates the manifest beside the local dump
// d; it must be of d's branch and checksum. The error wraps
// os.ErrNotExist when there is none (dumps of agents before manifests).
func readLocalManifest(d LocalDump, branch string) (manifest.Manifest, error) {
	data, err := os.ReadFile(d.Path + layout.ManifestExt)
	if err != nil {
		return manifest.Manifest{}, err
	}
	m, err := manifest.Unmarshal(data)
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("%s%s: %w", d.Path, layout.ManifestExt, err)
	}
	if m.BranchID != branch || m.PlainSHA256 != d.SHA256 || m.PlainSize != d.Size {
		return manifest.Manifest{}, fmt.Errorf("%s%s is of %s, sha256 %s, %d bytes: not this dump (%s, sha256 %s, %d bytes)",
			d.Path, layout.ManifestExt, m.BranchID, m.PlainSHA256, m.PlainSize, branch, d.SHA256, d.Size)
	}
	return m, nil
}

// uploadManifest puts the manifest of the dump stored as obj beside it,
// made from the dump's local manifest m. It is never encrypted: it holds
// counts and checksums, no data.
func (r *Runner) uploadManifest(ctx context.Context, m manifest.Manifest, obj store.ObjectInfo) (string, error) {
	m = forObject(m, obj)
	if err := m.Validate(); err != nil {
		return "", fmt.Errorf("backup: manifest of %s: %w", obj.Key, err)
	}
	body, err := m.Marshal()
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	key, err := layout.ManifestKey(obj.Key)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	if _, err := r.st.Put(ctx, key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body)), ContentType: manifest.ContentType}); err != nil {
		return "", fmt.Errorf("backup: upload manifest: %w", err)
	}
	r.log.Info("manifest uploaded", "key", key, "tables", len(m.Tables), "not_counted", len(m.NotCounted), "day", dayDate(m.Day))
	return key, nil
}

func dayDate(d *manifest.Day) string {
	if d == nil {
		return ""
	}
	return d.Date
}

// oneLine keeps the first line of s, at most 500 bytes.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
