package index

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SnapshotFile is the snapshot's file name in the data directory.
const SnapshotFile = "index.gob"

// snapshotVersion changes whenever the encoded shape does, or the rules
// that judged what it holds; an older snapshot is then ignored (the next
// sync rebuilds it from the bucket). 2: documents in another currency than
// INR are bad, and prefixes without a metrics or backup key are no branch.
// 3: drills, manifests and agent status. 4: documents stored by column
// (Days), one gob message per branch. 5: documents and the newest dump carry
// their agent instance id.
const snapshotVersion = 5

// snapshotHeader is the snapshot's first gob message; Branches messages
// of one *Branch each follow, so that neither saving nor loading holds
// the whole encoding in memory at once.
type snapshotHeader struct {
	Version         int
	Branches        int
	IgnoredPrefixes []string
	FullSyncAt      time.Time
	SyncedAt        time.Time
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
	err = encodeSnapshot(w, x)
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
	x, err := decodeSnapshot(bufio.NewReaderSize(f, 1<<20))
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return nil, fmt.Errorf("load index snapshot %s: %w", f.Name(), err)
	}
	return x, err
}

func encodeSnapshot(w io.Writer, x *Index) error {
	enc := gob.NewEncoder(w)
	h := snapshotHeader{Version: snapshotVersion, Branches: len(x.Branches), IgnoredPrefixes: x.IgnoredPrefixes,
		FullSyncAt: x.FullSyncAt, SyncedAt: x.SyncedAt}
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, b := range x.Branches {
		if err := enc.Encode(b); err != nil {
			return err
		}
	}
	return nil
}

func decodeSnapshot(r io.Reader) (*Index, error) {
	dec := gob.NewDecoder(r)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, err
	}
	// A snapshot of version 1 is one message of another type, whose
	// Version field gob reads into the header's.
	if h.Version != snapshotVersion || h.Branches < 0 {
		return nil, ErrNoSnapshot
	}
	x := &Index{IgnoredPrefixes: h.IgnoredPrefixes, FullSyncAt: h.FullSyncAt, SyncedAt: h.SyncedAt,
		Branches: make([]*Branch, 0, min(h.Branches, 1<<16))}
	for range h.Branches {
		b := new(Branch)
		if err := dec.Decode(b); err != nil {
			return nil, err
		}
		x.Branches = append(x.Branches, b)
	}
	return x, nil
}
