// Package datadir is the aggregator's data directory (AGGREGATOR_DATA_DIR):
// checked writable before anything starts, and the one place that moves a
// damaged file aside so that start-up continues without it.
package datadir

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CheckWritable creates dir if needed and proves that a file can be
// written, synced, renamed and removed there, as the snapshot and the
// alert history are. The error says what failed, without the variable's
// name (the caller names it).
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	name := f.Name()
	defer func() { _ = os.Remove(name) }()
	_, err = f.Write([]byte("ok\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, name+".renamed")
		name += ".renamed"
	}
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	return nil
}

// MoveAside renames a damaged file to <path>.corrupt-<UTC time>, keeping
// it for a post-mortem, and returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	to := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move damaged %s aside: %w", filepath.Base(path), err)
	}
	return to, nil
}
