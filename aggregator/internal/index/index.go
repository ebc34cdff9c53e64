// Package index is the aggregator's in-memory picture of the bucket: per
// branch, the good metrics documents, the bad ones with their reasons, and
// the backup listing, each with the listing facts (ETag, size) that tell a
// refresh whether an object changed. An Index is immutable once published:
// a sync builds a new one, sharing the branches it did not change.
package index

import (
	"sort"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/safetext"
)

// Doc is one good metrics document and the listing facts of its object.
type Doc struct {
	metrics.Document
	ETag string
	Size int64
	// Instance is the agent instance id from the object's metadata (read
	// with the document; "" from agents that write none).
	Instance string
}

// BadDoc is an object under a branch's metrics/ that could not be
// accepted, or one under backups/ named like a dump whose name is malformed.
type BadDoc struct {
	Key    string
	Date   string // YYYY-MM-DD of the key; "" when the key holds none
	Reason string
	ETag   string
	Size   int64
	// LastModified is when the object was written, as listed.
	LastModified time.Time
}

// Backup is one listed dump.
type Backup struct {
	Key  string
	Name string // file name without folder
	// Stamp is the wall-clock time of the dump name, read as if in UTC:
	// the branch's zone is applied by Taken.
	Stamp        time.Time
	Encrypted    bool
	Size         int64
	ETag         string
	LastModified time.Time
	// SHA256 is the dump's checksum from the object's metadata (read for
	// the newest backup of a branch only); MetaRead says it was looked up.
	SHA256   string
	MetaRead bool
	// Instance is the agent instance id from the same metadata ("" when
	// not read, or written by an agent that puts none).
	Instance string
}

// Taken is when the dump started, reading its name's wall clock in loc.
func (b Backup) Taken(loc *time.Location) time.Time {
	s := b.Stamp
	return time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), s.Second(), 0, loc)
}

// Branch is everything known about one branch. Docs are in date order,
// Bad and Backups sorted by key (so backups oldest first).
type Branch struct {
	ID       string
	Expected bool // named in EXPECTED_BRANCHES
	Docs     Days
	Bad      []BadDoc
	Backups  []Backup
	// BadBackups are objects under backups/ named like a dump
	// (.dump, .dump.age) whose name could not be read, by key.
	BadBackups []BadDoc
	// Ignored counts objects under the prefix that are neither metrics
	// documents nor backups (as of the last complete listing).
	Ignored int
	// FullListedAt is when every object of the branch was last listed;
	// zero when it never was.
	FullListedAt time.Time
	// Proof holds the drills, manifests and agent status; nil when the
	// bucket has none.
	Proof *Proof
}

// Latest is the newest good document, or nil.
func (b *Branch) Latest() *Doc {
	n := b.Docs.Len()
	if n == 0 {
		return nil
	}
	d := b.Docs.At(n - 1)
	return &d
}

// LatestFinal is the newest good document with is_final, or nil.
func (b *Branch) LatestFinal() *Doc {
	for i := b.Docs.Len() - 1; i >= 0; i-- {
		if d := b.Docs.At(i); d.IsFinal {
			return &d
		}
	}
	return nil
}

// LatestBackup is the newest backup, or nil.
func (b *Branch) LatestBackup() *Backup {
	if len(b.Backups) == 0 {
		return nil
	}
	return &b.Backups[len(b.Backups)-1]
}

// Name is the display name from the newest document, made safe to show
// (safetext.Display: no bidi or control characters), or the id.
func (b *Branch) Name() string {
	if d := b.Latest(); d != nil {
		if n := safetext.Display(d.BranchName); n != "" {
			return n
		}
	}
	return b.ID
}

// Zone is the branch's time zone: def when the UTC offset of the newest
// document matches def at that time (so the zone keeps its name), else a
// fixed zone of that offset; def when there is no document.
func (b *Branch) Zone(def *time.Location) *time.Location {
	d := b.Latest()
	if d == nil {
		return def
	}
	t, err := d.GeneratedTime()
	if err != nil {
		return def
	}
	_, off := t.Zone()
	if _, defOff := t.In(def).Zone(); defOff == off {
		return def
	}
	return time.FixedZone(t.Format("-07:00"), off)
}

// DocSpan returns the positions lo to hi-1 in Docs of the documents with
// from <= date <= to (YYYY-MM-DD strings; "" leaves that end open).
func (b *Branch) DocSpan(from, to string) (lo, hi int) {
	hi = b.Docs.Len()
	if from != "" {
		lo = b.Docs.Search(from)
	}
	if to != "" {
		hi = b.Docs.Search(to)
		for hi < b.Docs.Len() && b.Docs.Date(hi) == to {
			hi++
		}
	}
	if lo >= hi {
		return 0, 0
	}
	return lo, hi
}

// DocRange returns the documents with from <= date <= to (YYYY-MM-DD
// strings; "" leaves that end open), decoded into a new slice.
func (b *Branch) DocRange(from, to string) []Doc {
	lo, hi := b.DocSpan(from, to)
	if lo >= hi {
		return nil
	}
	out := make([]Doc, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, b.Docs.At(i))
	}
	return out
}

// Doc returns the good document of a date.
func (b *Branch) Doc(date string) (*Doc, bool) {
	if i := b.DocAt(date); i >= 0 {
		d := b.Docs.At(i)
		return &d, true
	}
	return nil, false
}

// DocAt is the position in Docs of the document of a date, or -1.
func (b *Branch) DocAt(date string) int {
	i := b.Docs.Search(date)
	if i < b.Docs.Len() && b.Docs.Date(i) == date {
		return i
	}
	return -1
}

// Backup returns the backup of a file name.
func (b *Branch) Backup(name string) (*Backup, bool) {
	for i := range b.Backups {
		if b.Backups[i].Name == name {
			return &b.Backups[i], true
		}
	}
	return nil, false
}

// Index is the whole picture. Branches are sorted by id.
type Index struct {
	Branches []*Branch
	// IgnoredPrefixes are top-level prefixes that are not branches (as of
	// the last full sync): not a branch id, or holding no metrics
	// document name and no dump while EXPECTED_BRANCHES does not name them.
	IgnoredPrefixes []string
	// FullSyncAt is when the last complete sync (discovery and every
	// object listed) finished; SyncedAt the last good sync of any kind
	// (a failed sync keeps the one before: the service reads it back as
	// its last good sync after a restart).
	FullSyncAt time.Time
	SyncedAt   time.Time
}

// Branch finds a branch by id.
func (x *Index) Branch(id string) (*Branch, bool) {
	if x == nil {
		return nil, false
	}
	i := sort.Search(len(x.Branches), func(i int) bool { return x.Branches[i].ID >= id })
	if i < len(x.Branches) && x.Branches[i].ID == id {
		return x.Branches[i], true
	}
	return nil, false
}

// Documents counts the good documents of every branch.
func (x *Index) Documents() int {
	n := 0
	if x != nil {
		for _, b := range x.Branches {
			n += b.Docs.Len()
		}
	}
	return n
}

// SortBranches orders branches by id.
func SortBranches(bs []*Branch) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].ID < bs[j].ID })
}

// DateString formats the calendar date of t as YYYY-MM-DD.
func DateString(t time.Time) string { return t.Format(layout.DateFormat) }
