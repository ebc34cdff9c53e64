package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/branchwatch/branchwatch/aggregator/internal/datadir"
)

// HistoryFile is the alert state's file name in the data directory: the
// per-check states, the records and their delivery state per channel (the
// outbox).
const HistoryFile = "alerts.json"

type savedState struct {
	NextID  int64                  `json:"next_id"`
	Checks  map[string]*checkState `json:"checks"`
	History []Record               `json:"history"`
	// LastDigest is the date of the last morning digest queued.
	LastDigest string `json:"last_digest,omitempty"`
}

// legacyRecord holds the delivery fields of a record written before
// channels existed (one webhook, state on the record itself).
type legacyRecord struct {
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
}

// load reads the saved state. A file that cannot be decoded is moved
// aside (alerts.json.corrupt-<time>) and logged, and the history restarts
// empty; so that problems alerted before are not announced again, the
// first observation takes every check failing since before the damaged
// file was last written as already alerted (its modification time is the
// last moment the old state is known to have been true). A problem that
// began after that is alerted as usual.
func (n *Notifier) load() error {
	if n.o.Dir == "" {
		return nil
	}
	path := filepath.Join(n.o.Dir, HistoryFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load alert history: %w", err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		fi, serr := os.Stat(path)
		if serr != nil {
			return fmt.Errorf("load alert history: %w", serr)
		}
		to, merr := datadir.MoveAside(path, n.o.Now())
		if merr != nil {
			return fmt.Errorf("alert history %s is damaged (%v) and cannot be moved aside: %w", path, err, merr)
		}
		n.baseline = fi.ModTime()
		n.o.Logger.Error("alert history damaged: moved aside, history restarts; problems failing before it was last written are taken as already alerted",
			"moved_to", to, "written_at", fi.ModTime(), "err", err)
		return nil
	}
	var legacy struct {
		History []legacyRecord `json:"history"`
	}
	_ = json.Unmarshal(b, &legacy)
	if s.Checks != nil {
		n.checks = s.Checks
	}
	n.history = s.History
	n.lastDigest = s.LastDigest
	n.nextID = max(s.NextID, 1)
	for i := range n.history {
		r := &n.history[i]
		n.nextID = max(n.nextID, r.ID+1)
		if r.Deliveries == nil && r.Status == StatusPending {
			// Written before channels: it was for the webhook.
			d := Delivery{Channel: "webhook", Status: StatusPending}
			if i < len(legacy.History) {
				d.Attempts, d.LastError = legacy.History[i].Attempts, legacy.History[i].LastError
			}
			r.Deliveries = []Delivery{d}
		}
		// A channel no longer configured cannot deliver: shown, unsent.
		for j := range r.Deliveries {
			if d := &r.Deliveries[j]; d.Status == StatusPending && n.wake[d.Channel] == nil {
				d.Status = StatusNotConfigured
			}
		}
		r.summarize()
	}
	return nil
}

// saveLocked writes the state atomically; n.mu is held. A failure is
// logged: the state in memory stays authoritative.
func (n *Notifier) saveLocked() {
	if n.o.Dir == "" {
		return
	}
	err := func() error {
		b, err := json.Marshal(savedState{NextID: n.nextID, Checks: n.checks, History: n.history, LastDigest: n.lastDigest})
		if err != nil {
			return err
		}
		if err := os.MkdirAll(n.o.Dir, 0o750); err != nil {
			return err
		}
		tmp := filepath.Join(n.o.Dir, "."+HistoryFile+".tmp")
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(n.o.Dir, HistoryFile))
	}()
	if err != nil {
		n.o.Logger.Error("save alert history", "err", err)
	}
}
