// Package ledger is the agent's local record of the uploads it made and
// confirmed (size and SHA-256 read back from the bucket). Cloud retention
// counts and deletes only what is recorded here: an object the agent did
// not upload, however plausible its metadata, is never taken for a good
// backup and never deleted.
//
// The record is one small JSON file in BACKUP_DIR, rewritten atomically
// (temporary file, fsync, rename) under an flock, so a backup and a cleanup
// running at once never lose an entry.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// FileName is the record's file in BACKUP_DIR.
const FileName = ".uploads.json"

// lockName is the flock beside it.
const lockName = ".uploads.lock"

// Version of the file format.
const Version = 1

// Entry is one confirmed upload.
type Entry struct {
	Key      string    `json:"key"`
	SHA256   string    `json:"sha256"` // of the object as stored, lower-case hex
	Size     int64     `json:"size"`   // of the object as stored
	Uploaded time.Time `json:"uploaded"`
}

// Ledger is the whole record.
type Ledger struct {
	Version int     `json:"version"`
	Uploads []Entry `json:"uploads"`
}

// Lookup returns the entry of key.
func (l Ledger) Lookup(key string) (Entry, bool) {
	for _, e := range l.Uploads {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// Load reads the record of dir; a missing file is an empty record.
func Load(dir string) (Ledger, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return Ledger{Version: Version}, nil
	}
	if err != nil {
		return Ledger{}, fmt.Errorf("upload record: %w", err)
	}
	var l Ledger
	if err := json.Unmarshal(b, &l); err != nil {
		return Ledger{}, fmt.Errorf("upload record %s: %w", filepath.Join(dir, FileName), err)
	}
	if l.Version != Version {
		return Ledger{}, fmt.Errorf("upload record %s: version %d, this agent reads %d", filepath.Join(dir, FileName), l.Version, Version)
	}
	return l, nil
}

// Record adds (or replaces) the entry of e.Key. A record that cannot be
// read is moved aside (FileName.corrupt) and started afresh: fewer entries
// only make retention keep more.
func Record(dir string, e Entry) error {
	return update(dir, func(l *Ledger) {
		l.Uploads = slices.DeleteFunc(l.Uploads, func(x Entry) bool { return x.Key == e.Key })
		l.Uploads = append(l.Uploads, e)
	})
}

// Forget removes the entries of keys (objects deleted or gone).
func Forget(dir string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return update(dir, func(l *Ledger) {
		l.Uploads = slices.DeleteFunc(l.Uploads, func(x Entry) bool { return slices.Contains(keys, x.Key) })
	})
}

func update(dir string, change func(*Ledger)) error {
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := Load(dir)
	if err != nil {
		p := filepath.Join(dir, FileName)
		if rerr := os.Rename(p, p+".corrupt"); rerr != nil {
			return fmt.Errorf("%w (and it could not be moved aside: %v)", err, rerr)
		}
		l = Ledger{Version: Version}
	}
	change(&l)
	slices.SortFunc(l.Uploads, func(a, b Entry) int { return a.Uploaded.Compare(b.Uploaded) })
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("upload record: %w", err)
	}
	return writeAtomic(filepath.Join(dir, FileName), append(b, '\n'))
}

func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("upload record: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("upload record: lock: %w", err)
	}
	return func() { _ = f.Close() }, nil // closing drops the flock
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), FileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("upload record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("upload record: %w", err)
	}
	return nil
}
