// Package inventory lists a branch's backups, in the bucket and in
// BACKUP_DIR, newest first. It only lists and reads metadata (List and
// Stat), so it works with a read-only or an append-only key.
package inventory

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Backup is one backup of the branch.
type Backup struct {
	// Name is the plain dump's file name ({branch}_{YYYYMMDD}_{HHMMSS}.dump).
	Name string `json:"name"`
	// Key is the bucket key; "" for a dump that is only on local disk.
	Key string `json:"key,omitempty"`
	// Taken is when the dump started, in the branch's zone (from its name).
	Taken time.Time `json:"taken"`
	// Size and SHA256 are of the object as stored in the bucket (the
	// encrypted bytes of an encrypted one), or of the local file when the
	// backup is only local. SHA256 is "" when unknown.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// PlainSHA256 is the decrypted dump's SHA-256 of an encrypted object.
	PlainSHA256 string `json:"plain_sha256,omitempty"`
	Encrypted   bool   `json:"encrypted"`
	// InBucket says the bucket holds it; Confirmed that the object carries
	// the size and checksum metadata of a finished upload (restore only
	// takes confirmed ones).
	InBucket  bool `json:"in_bucket"`
	Confirmed bool `json:"confirmed"`
	// Local says BACKUP_DIR holds a copy (the plain dump) at LocalPath.
	Local     bool   `json:"local"`
	LocalPath string `json:"local_path,omitempty"`
	// LastDrill is the newest restore drill that used this backup; nil
	// when none did (or drill records are not read).
	LastDrill *Drill `json:"last_drill"`
}

// Drill is a restore drill's outcome, as the listing shows it.
type Drill struct {
	Date string `json:"date"` // branch-local date of the drill (YYYY-MM-DD)
	Key  string `json:"key"`  // its record in the bucket
	OK   bool   `json:"ok"`
	// Error is why it failed; "" when OK.
	Error string `json:"error,omitempty"`
}

// Lister lists one branch's backups.
type Lister struct {
	Branch   string
	Dir      string         // BACKUP_DIR
	Location *time.Location // the branch's zone
	// Store is the bucket; nil in local-only mode.
	Store store.Store
	// Drills, when set, returns the newest drill per backup (bucket key).
	Drills func(ctx context.Context) (map[string]Drill, error)
}

// List returns the branch's backups, newest first: every backup object
// under its prefix (a night uploaded both plain and encrypted, after
// encryption was turned on, is two objects and two entries), and every
// local dump, which is the local copy of the objects of its name or, when
// the bucket has none, an entry of its own.
func (l Lister) List(ctx context.Context) ([]Backup, error) {
	var out []Backup
	if l.Store != nil {
		var err error
		if out, err = l.listBucket(ctx); err != nil {
			return nil, err
		}
	}
	local, err := backup.ListLocal(l.Dir, l.Branch, l.Location)
	if err != nil {
		return nil, err
	}
	for _, d := range local {
		found := false
		for i := range out {
			if out[i].Name == d.Name {
				out[i].Local, out[i].LocalPath, found = true, d.Path, true
			}
		}
		if !found {
			out = append(out, Backup{Name: d.Name, Taken: d.Taken, Size: d.Size, SHA256: d.SHA256, Local: true, LocalPath: d.Path})
		}
	}
	if l.Drills != nil {
		drills, err := l.Drills(ctx)
		if err != nil {
			return nil, err
		}
		for i := range out {
			if d, ok := drills[out[i].Key]; ok && out[i].Key != "" {
				out[i].LastDrill = &d
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Taken.Equal(out[j].Taken) {
			return out[i].Taken.After(out[j].Taken)
		}
		return out[i].Key > out[j].Key
	})
	return out, nil
}

func (l Lister) listBucket(ctx context.Context) ([]Backup, error) {
	prefix, err := layout.BackupsPrefix(l.Branch)
	if err != nil {
		return nil, err
	}
	var out []Backup
	for obj, err := range store.All(ctx, l.Store, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		k, err := layout.ParseKey(obj.Key, l.Location)
		if err != nil || k.Kind != layout.BackupsDir || k.Branch != l.Branch {
			continue // manifests, drill records, strangers
		}
		info, err := l.Store.Stat(ctx, obj.Key)
		if store.IsNotFound(err) {
			continue // removed while listing
		}
		if err != nil {
			return nil, err
		}
		b := Backup{Name: plainName(k.Dump), Key: obj.Key, Taken: k.Dump.Taken, Size: info.Size,
			SHA256: info.Metadata[backup.MetaSHA256], Encrypted: k.Dump.Encrypted || info.Metadata[backup.MetaEncryption] == "age",
			InBucket: true, Confirmed: backup.Confirmed(info)}
		if b.Encrypted {
			b.PlainSHA256 = info.Metadata[backup.MetaPlainSHA256]
		}
		out = append(out, b)
	}
	return out, nil
}

// plainName is the name of the plain dump of d.
func plainName(d layout.Dump) string {
	if !d.Encrypted {
		return d.Name
	}
	return d.Name[:len(d.Name)-len(layout.EncryptedDumpExt)] + layout.DumpExt
}
