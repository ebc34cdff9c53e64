package index

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SnapshotFile is the snapshot's file name in the data directory.
const SnapshotFile = "index.gob"

// snapshotVersion changes whenever the encoded shape does, or the rules
// that judged what it holds (2: documents in another currency than INR
// are bad, and prefixes without a metrics or backup key are no branch);
// an older snapshot is then ignored (the next sync rebuilds it from the
// bucket; 3: drills, manifests and agent status).
const snapshotVersion = 3

type snapshot struct {
	Version int
	Index   *Index
}

// ErrNoSnapshot is returned by Load when there is no snapshot to read.
var ErrNoSnapshot = errors.New("no index snapshot")

// Save writes x to dir atomically: a temporary file, fsynced, renamed.
func Save(dir string, x *Index) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("save index snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".index-*.tmp")
	if err != nil {
		return fmt.Errorf("save index snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = gob.NewEncoder(w).Encode(snapshot{Version: snapshotVersion, Index: x})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, SnapshotFile))
	}
	if err != nil {
		return fmt.Errorf("save index snapshot: %w", err)
	}
	return nil
}

// Load reads the snapshot in dir. It returns ErrNoSnapshot when there is
// none or it is of another version.
func Load(dir string) (*Index, error) {
	f, err := os.Open(filepath.Join(dir, SnapshotFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("load index snapshot: %w", err)
	}
	defer f.Close()
	var s snapshot
	if err := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("load index snapshot %s: %w", f.Name(), err)
	}
	if s.Version != snapshotVersion || s.Index == nil {
		return nil, ErrNoSnapshot
	}
	return s.Index, nil
}
