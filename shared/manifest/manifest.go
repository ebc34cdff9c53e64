// Package manifest is the document uploaded beside each dump,
// {branch}/backups/{dump name}.manifest.json: the rows of every table
// counted in the dump's own snapshot, the dump's checksum and size, the
// versions that made it, and the figures of the newest final business day
// computed in that snapshot. It holds counts and checksums only, never
// data, so it is not encrypted even when the dump is. A restore drill
// checks a restored copy against it.
package manifest

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/branchwatch/branchwatch/shared/internal/docjson"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// SchemaVersion is the version this package writes and reads.
const SchemaVersion = 1

// MaxBytes bounds a manifest (tens of thousands of tables fit).
const MaxBytes = 4 << 20

// ContentType of an uploaded manifest.
const ContentType = "application/json"

var (
	// ErrMalformed is wrapped by decode errors: bad JSON, a missing or null
	// field, a wrong type.
	ErrMalformed = errors.New("malformed manifest")
	// ErrUnsupportedVersion is wrapped when schema_version is not SchemaVersion.
	ErrUnsupportedVersion = errors.New("unknown manifest schema version")
	// ErrTooLarge is wrapped for input over MaxBytes.
	ErrTooLarge = errors.New("manifest too large")
	// ErrInvalid is wrapped by every Validate error.
	ErrInvalid = errors.New("invalid manifest")
	// ErrKeyMismatch is wrapped by CheckKey errors.
	ErrKeyMismatch = errors.New("manifest does not match its key")
)

// Manifest describes one dump.
type Manifest struct {
	SchemaVersion int    `json:"schema_version"`
	BranchID      string `json:"branch_id"`
	DumpKey       string `json:"dump_key"`
	// SHA256 and Size are of the object as stored (the ciphertext of an
	// encrypted dump); PlainSHA256 and PlainSize of the dump pg_dump wrote.
	SHA256        string `json:"sha256"`
	Size          int64  `json:"size"`
	PlainSHA256   string `json:"plain_sha256"`
	PlainSize     int64  `json:"plain_size"`
	Encrypted     bool   `json:"encrypted"`
	ServerVersion string `json:"server_version"`
	PGDumpVersion string `json:"pg_dump_version"`
	AgentVersion  string `json:"agent_version"`
	// StartedAt and FinishedAt are RFC 3339 with the branch's UTC offset.
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
	// Tables are the rows of each table of the dump ("schema.table"),
	// counted in the dump's snapshot.
	Tables map[string]int64 `json:"tables"`
	// NotCounted are tables of the dump left uncounted because their
	// estimated rows exceeded VERIFY_COUNT_MAX_ROWS.
	NotCounted []string `json:"not_counted,omitempty"`
	// Day is the newest final business day before the dump, computed with
	// the branch's metrics query in the dump's snapshot; nil when the query
	// could not run then, DayError says why.
	Day      *Day   `json:"day"`
	DayError string `json:"day_error,omitempty"`
}

// Day is one business day's figures.
type Day struct {
	Date    string           `json:"date"` // YYYY-MM-DD
	Figures map[string]int64 `json:"figures"`
}

// DayFromDocument takes the figures of a metrics document.
func DayFromDocument(d metrics.Document) *Day {
	return &Day{Date: d.SummaryDate, Figures: d.Figures()}
}

var required = []string{"branch_id", "dump_key", "sha256", "size", "server_version", "pg_dump_version",
	"agent_version", "started_at", "finished_at", "tables"}

// Marshal encodes m (two-space indent, trailing newline). It does not validate.
func (m Manifest) Marshal() ([]byte, error) {
	b, err := docjson.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a manifest strictly (every field of version 1 present,
// not null, of its type; unknown fields ignored). It does not validate.
func Unmarshal(data []byte) (Manifest, error) {
	return docjson.Unmarshal[Manifest](data, MaxBytes, SchemaVersion, required, sentinels)
}

var sentinels = docjson.Sentinels{Malformed: ErrMalformed, UnsupportedVersion: ErrUnsupportedVersion, TooLarge: ErrTooLarge}

// Validate checks every rule, reporting each broken one in one error that
// wraps ErrInvalid.
func (m Manifest) Validate() error {
	errs := docjson.Header(m.SchemaVersion, SchemaVersion, m.BranchID, ErrUnsupportedVersion)
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if k, err := layout.ParseKey(m.DumpKey, nil); err != nil || k.Kind != layout.BackupsDir {
		add(fmt.Errorf("dump_key %q is not a dump key ({branch}/backups/{branch}_{YYYYMMDD}_{HHMMSS}.dump[.age])", m.DumpKey))
	} else {
		if k.Branch != m.BranchID {
			add(fmt.Errorf("dump_key %q is not of branch_id %q", m.DumpKey, m.BranchID))
		}
		if k.Dump.Encrypted != m.Encrypted {
			add(fmt.Errorf("encrypted is %v but dump_key %q says %v", m.Encrypted, m.DumpKey, k.Dump.Encrypted))
		}
	}
	add(docjson.SHA256("sha256", m.SHA256))
	if m.Size <= 0 {
		add(fmt.Errorf("size %d is not positive", m.Size))
	}
	if m.Encrypted {
		add(docjson.SHA256("plain_sha256", m.PlainSHA256))
		if m.PlainSize <= 0 {
			add(fmt.Errorf("plain_size %d is not positive", m.PlainSize))
		}
	} else if m.PlainSHA256 != m.SHA256 || m.PlainSize != m.Size {
		add(errors.New("plain_sha256 and plain_size must equal sha256 and size for a dump that is not encrypted"))
	}
	for name, v := range map[string]string{"server_version": m.ServerVersion, "pg_dump_version": m.PGDumpVersion, "agent_version": m.AgentVersion} {
		if v == "" {
			add(fmt.Errorf("%s is empty", name))
		}
	}
	started, err1 := docjson.Timestamp("started_at", m.StartedAt)
	finished, err2 := docjson.Timestamp("finished_at", m.FinishedAt)
	add(err1)
	add(err2)
	if err1 == nil && err2 == nil && finished.Before(started) {
		add(fmt.Errorf("finished_at %s is before started_at %s", m.FinishedAt, m.StartedAt))
	}
	for _, t := range slices.Sorted(maps.Keys(m.Tables)) {
		add(docjson.TableName("tables", t))
		if m.Tables[t] < 0 {
			add(fmt.Errorf("tables: %s has %d rows, must be >= 0", t, m.Tables[t]))
		}
	}
	for _, t := range m.NotCounted {
		add(docjson.TableName("not_counted", t))
		if _, dup := m.Tables[t]; dup {
			add(fmt.Errorf("not_counted: %s is also counted in tables", t))
		}
	}
	if m.Day != nil {
		errs = append(errs, m.Day.validate()...)
		if m.DayError != "" {
			add(errors.New("day_error is set beside day"))
		}
	}
	add(docjson.OneLine("day_error", m.DayError, 2000))
	return docjson.Join(ErrInvalid, errs)
}

func (d Day) validate() []error {
	var errs []error
	if _, err := layout.ParseDate(d.Date); err != nil {
		errs = append(errs, fmt.Errorf("day.date %q is not a real date (YYYY-MM-DD)", d.Date))
	}
	for _, name := range metrics.FigureNames {
		if _, ok := d.Figures[name]; !ok {
			errs = append(errs, fmt.Errorf("day.figures: %s is missing", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Figures)) {
		if !slices.Contains(metrics.FigureNames, name) {
			errs = append(errs, fmt.Errorf("day.figures: %q is not a metrics figure", name))
		}
	}
	return errs
}

// CheckKey checks that m was read from its own key: the manifest key of
// dump_key. Errors wrap ErrKeyMismatch.
func (m Manifest) CheckKey(key string) error {
	want, err := layout.ManifestKey(m.DumpKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	if key != want {
		return fmt.Errorf("%w: read from %s, but dump_key %s has its manifest at %s", ErrKeyMismatch, key, m.DumpKey, want)
	}
	return nil
}
