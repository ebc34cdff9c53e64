// Package restoredrill runs a restore drill, scheduled or by `agent
// verify`: restore.Verify proves the newest cloud backup restores with the
// rows and money its manifest recorded, and the drill's record goes to
// {branch}/drills/YYYY-MM-DD.json for the owner's dashboard.
package restoredrill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Request configures one drill.
type Request struct {
	restore.VerifyRequest
	// NoRecord leaves the bucket alone (agent verify --no-record).
	NoRecord bool
}

// Result is one drill.
type Result struct {
	Verify    restore.VerifyResult
	Record    drill.Record
	RecordKey string // "" when no record was written
}

// Run drills once at now (the branch's clock): it restores, compares,
// builds the record and, with a bucket and unless req.NoRecord, writes
// it. The error is the drill's failure (or the record's).
func Run(ctx context.Context, o options.Options, st store.Store, req Request, logger *slog.Logger, now time.Time) (Result, error) {
	log := logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "drill")
	if req.Now == nil {
		req.Now = func() time.Time { return now }
	}
	vr, verr := restore.Verify(ctx, o, st, req.VerifyRequest, logger)
	res := Result{Verify: vr}
	res.Record = record(o, now, vr, verr)
	if res.Record.MetricsCheck != nil && st != nil {
		comparePushed(ctx, st, o.BranchID, vr.Day, res.Record.MetricsCheck)
	}
	if verr != nil {
		log.Error("restore drill failed", "backup", vr.Key, "error", verr)
	} else {
		log.Info("restore drill passed", "backup", vr.Key, "tables", len(res.Record.Tables), "duration_ms", res.Record.DurationMS)
	}
	if st == nil || req.NoRecord {
		return res, verr
	}
	key, err := write(ctx, st, res.Record)
	if err != nil {
		return res, errors.Join(verr, err)
	}
	res.RecordKey = key
	log.Info("drill record written", "key", key, "ok", res.Record.OK)
	return res, verr
}

// record describes the drill.
func record(o options.Options, at time.Time, vr restore.VerifyResult, verr error) drill.Record {
	r := drill.Record{
		SchemaVersion: drill.SchemaVersion,
		BranchID:      o.BranchID,
		DrilledAt:     at.In(o.Location).Format(time.RFC3339),
		BackupKey:     vr.Key,
		BackupSHA256:  vr.StoredSHA256,
		OK:            verr == nil,
		DurationMS:    vr.Duration.Milliseconds(),
		Tables:        map[string]drill.Table{},
	}
	if !layoutOK(vr.Key) {
		r.BackupKey, r.BackupSHA256 = "", ""
	}
	if verr != nil {
		r.Error = oneLine(verr.Error())
	}
	if vr.Checks != nil {
		for name, c := range vr.Checks {
			r.Tables[name] = drill.Table{Expected: c.Expected, Restored: c.Restored}
		}
	} else {
		for _, t := range vr.Tables {
			r.Tables[t.Table] = drill.Table{Restored: &t.Rows}
		}
	}
	if m := vr.Manifest; m != nil && m.Day != nil && (vr.Day != nil || vr.DayError != "") {
		mc := &drill.MetricsCheck{Date: m.Day.Date, Differences: []string{}}
		if vr.DayError != "" {
			mc.Differences = append(mc.Differences, oneLine("not recomputed: "+vr.DayError))
		} else {
			diff := restore.FigureDifferences(m.Day.Figures, vr.Day, "manifest")
			mc.MatchesManifest = len(diff) == 0
			mc.Differences = append(mc.Differences, diff...)
		}
		r.MetricsCheck = mc
	}
	return r
}

// comparePushed compares the recomputed day with the metrics document in
// the bucket for that date. A difference is reported, never a failure:
// voids and refunds entered after the push legitimately change a day.
func comparePushed(ctx context.Context, st store.Store, branch string, day map[string]int64, mc *drill.MetricsCheck) {
	if day == nil {
		return
	}
	d, err := layout.ParseDate(mc.Date)
	if err != nil {
		return
	}
	key, err := layout.MetricsKey(branch, d)
	if err != nil {
		return
	}
	doc, err := readDoc(ctx, st, key)
	if err != nil {
		mc.Differences = append(mc.Differences, oneLine(fmt.Sprintf("pushed document %s: %v", key, err)))
		return
	}
	diff := restore.FigureDifferences(doc.Figures(), day, "pushed")
	mc.MatchesPushed = len(diff) == 0
	mc.Differences = append(mc.Differences, diff...)
}

func readDoc(ctx context.Context, st store.Store, key string) (metrics.Document, error) {
	rc, _, err := st.Get(ctx, key)
	if store.IsNotFound(err) {
		return metrics.Document{}, errors.New("none was pushed for that date")
	}
	if err != nil {
		return metrics.Document{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, metrics.MaxDocumentBytes+1))
	if err != nil {
		return metrics.Document{}, err
	}
	doc, err := metrics.Unmarshal(data)
	if err == nil {
		err = doc.Validate()
	}
	return doc, err
}

// write uploads the record under the branch's date of the drill (a second
// drill that day replaces the first).
func write(ctx context.Context, st store.Store, r drill.Record) (string, error) {
	if err := r.Validate(); err != nil {
		return "", fmt.Errorf("drill record: %w", err)
	}
	at, err := time.Parse(time.RFC3339, r.DrilledAt)
	if err != nil {
		return "", err
	}
	key, err := layout.DrillKey(r.BranchID, at)
	if err != nil {
		return "", err
	}
	body, err := r.Marshal()
	if err != nil {
		return "", err
	}
	if _, err := st.Put(context.WithoutCancel(ctx), key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body)), ContentType: drill.ContentType}); err != nil {
		return "", fmt.Errorf("write drill record: %w", err)
	}
	return key, nil
}

func layoutOK(key string) bool {
	k, err := layout.ParseKey(key, nil)
	return err == nil && k.Kind == layout.BackupsDir
}

// oneLine keeps an error to one line within the record's limit.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
	if len(s) > drill.MaxErrorBytes-4 {
		s = s[:drill.MaxErrorBytes-4] + "…"
	}
	return s
}
