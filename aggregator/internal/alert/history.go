package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// HistoryFile is the alert state's file name in the data directory.
const HistoryFile = "alerts.json"

type savedState struct {
	NextID  int64                  `json:"next_id"`
	Checks  map[string]*checkState `json:"checks"`
	History []Record               `json:"history"`
}

func (n *Notifier) load() error {
	if n.o.Dir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(n.o.Dir, HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load alert history: %w", err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("load alert history %s: %w", filepath.Join(n.o.Dir, HistoryFile), err)
	}
	if s.Checks != nil {
		n.checks = s.Checks
	}
	n.history = s.History
	n.nextID = max(s.NextID, 1)
	for i := range n.history {
		r := &n.history[i]
		n.nextID = max(n.nextID, r.ID+1)
		// Without a webhook any more, pending records stay shown, unsent.
		if r.Status == StatusPending && n.o.WebhookURL == "" {
			r.Status = StatusNotConfigured
		}
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
		b, err := json.Marshal(savedState{NextID: n.nextID, Checks: n.checks, History: n.history})
		if err != nil {
			return err
		}
		if err := os.MkdirAll(n.o.Dir, 0o750); err != nil {
			return err
		}
		tmp := filepath.Join(n.o.Dir, "."+HistoryFile+".tmp")
		if err := os.WriteFile(tmp, b, 0o640); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(n.o.Dir, HistoryFile))
	}()
	if err != nil {
		n.o.Logger.Error("save alert history", "err", err)
	}
}
