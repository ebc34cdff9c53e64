// Package drill is the record of one restore drill,
// {branch}/drills/{YYYY-MM-DD}.json (the branch's date of the drill): which
// backup was restored, whether it came back whole (every table's rows
// against the dump's manifest, the newest final business day's figures
// recomputed from the restored copy), how long it took, and why it failed.
package drill

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/branchwatch/branchwatch/shared/internal/docjson"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// SchemaVersion is the version this package writes and reads.
const SchemaVersion = 1

// MaxBytes bounds a record.
const MaxBytes = 4 << 20

// MaxErrorBytes bounds the error text.
const MaxErrorBytes = 2000

// ContentType of an uploaded record.
const ContentType = "application/json"

var (
	// ErrMalformed is wrapped by decode errors.
	ErrMalformed = errors.New("malformed drill record")
	// ErrUnsupportedVersion is wrapped when schema_version is not SchemaVersion.
	ErrUnsupportedVersion = errors.New("unknown drill record schema version")
	// ErrTooLarge is wrapped for input over MaxBytes.
	ErrTooLarge = errors.New("drill record too large")
	// ErrInvalid is wrapped by every Validate error.
	ErrInvalid = errors.New("invalid drill record")
	// ErrKeyMismatch is wrapped by CheckKey errors.
	ErrKeyMismatch = errors.New("drill record does not match its key")
)

// Record is one drill.
type Record struct {
	SchemaVersion int    `json:"schema_version"`
	BranchID      string `json:"branch_id"`
	// DrilledAt is when the drill started, RFC 3339 with the branch's offset.
	DrilledAt string `json:"drilled_at"`
	// BackupKey and BackupSHA256 name the object restored (its SHA-256 as
	// stored); both empty when the drill failed before choosing one.
	BackupKey    string `json:"backup_key"`
	BackupSHA256 string `json:"backup_sha256"`
	OK           bool   `json:"ok"`
	DurationMS   int64  `json:"duration_ms"`
	// Tables are the tables of the manifest and of the restored copy.
	Tables map[string]Table `json:"tables"`
	// Error is one line, empty when OK.
	Error string `json:"error"`
	// MetricsCheck is nil when the drill did not get as far, or the
	// manifest holds no day figures.
	MetricsCheck *MetricsCheck `json:"metrics_check"`
}

// Table is one table's rows: expected from the manifest (nil when the
// manifest did not count it), restored in the scratch database (nil when
// it is missing there).
type Table struct {
	Expected *int64 `json:"expected"`
	Restored *int64 `json:"restored"`
}

// Matches reports whether a counted table came back with its rows.
func (t Table) Matches() bool {
	return t.Expected == nil && t.Restored != nil || t.Expected != nil && t.Restored != nil && *t.Expected == *t.Restored
}

// MetricsCheck compares the newest final business day before the dump,
// recomputed from the restored copy, with the manifest (a mismatch fails
// the drill) and with the metrics document pushed for that date (a
// difference is reported only: voids or refunds entered after the push
// legitimately change a day).
type MetricsCheck struct {
	Date            string   `json:"date"`
	MatchesManifest bool     `json:"matches_manifest"`
	MatchesPushed   bool     `json:"matches_pushed"`
	Differences     []string `json:"differences"`
}

var required = []string{"branch_id", "drilled_at", "backup_key", "backup_sha256", "ok", "duration_ms", "tables", "error"}

// Marshal encodes r (two-space indent, trailing newline). It does not validate.
func (r Record) Marshal() ([]byte, error) {
	if r.Tables == nil {
		r.Tables = map[string]Table{}
	}
	if r.MetricsCheck != nil && r.MetricsCheck.Differences == nil {
		mc := *r.MetricsCheck
		mc.Differences = []string{}
		r.MetricsCheck = &mc
	}
	b, err := docjson.Encode(r)
	if err != nil {
		return nil, fmt.Errorf("encode drill record: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a record strictly (every field of version 1 present,
// not null, of its type; unknown fields ignored). It does not validate.
func Unmarshal(data []byte) (Record, error) {
	return docjson.Unmarshal[Record](data, MaxBytes, SchemaVersion, required, sentinels)
}

var sentinels = docjson.Sentinels{Malformed: ErrMalformed, UnsupportedVersion: ErrUnsupportedVersion, TooLarge: ErrTooLarge}

// Validate checks every rule, reporting each broken one in one error that
// wraps ErrInvalid. An ok record has no error, names its backup, and every
// counted table and the day's figures came back as the manifest says; a
// failed one says why.
func (r Record) Validate() error {
	errs := docjson.Header(r.SchemaVersion, SchemaVersion, r.BranchID, ErrUnsupportedVersion)
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	_, err := docjson.Timestamp("drilled_at", r.DrilledAt)
	add(err)
	if r.BackupKey != "" || r.OK {
		if k, err := layout.ParseKey(r.BackupKey, nil); err != nil || k.Kind != layout.BackupsDir || k.Branch != r.BranchID {
			add(fmt.Errorf("backup_key %q is not a dump key of branch %q", r.BackupKey, r.BranchID))
		}
	}
	if r.BackupSHA256 != "" || r.OK {
		add(docjson.SHA256("backup_sha256", r.BackupSHA256))
	}
	if r.DurationMS < 0 {
		add(fmt.Errorf("duration_ms %d is negative", r.DurationMS))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Tables)) {
		t := r.Tables[name]
		add(docjson.TableName("tables", name))
		if t.Expected != nil && *t.Expected < 0 || t.Restored != nil && *t.Restored < 0 {
			add(fmt.Errorf("tables: %s has a negative count", name))
		}
		if r.OK && !t.Matches() {
			add(fmt.Errorf("ok is true but table %s did not come back with its rows", name))
		}
	}
	add(docjson.OneLine("error", r.Error, MaxErrorBytes))
	switch {
	case r.OK && r.Error != "":
		add(errors.New("ok is true but error is set"))
	case !r.OK && r.Error == "":
		add(errors.New("ok is false but error is empty"))
	}
	if mc := r.MetricsCheck; mc != nil {
		if _, err := layout.ParseDate(mc.Date); err != nil {
			add(fmt.Errorf("metrics_check.date %q is not a real date (YYYY-MM-DD)", mc.Date))
		}
		if r.OK && !mc.MatchesManifest {
			add(errors.New("ok is true but metrics_check.matches_manifest is false"))
		}
		for _, d := range mc.Differences {
			add(docjson.OneLine("metrics_check.differences", d, MaxErrorBytes))
		}
	}
	return docjson.Join(ErrInvalid, errs)
}

// CheckKey checks that r was read from its own key: its branch, and the
// date of drilled_at as written (the branch's date). Errors wrap
// ErrKeyMismatch.
func (r Record) CheckKey(key string) error {
	t, err := docjson.Timestamp("drilled_at", r.DrilledAt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	want, err := layout.DrillKey(r.BranchID, t)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	if key != want {
		return fmt.Errorf("%w: read from %s, but a drill of branch %s at %s belongs at %s", ErrKeyMismatch, key, r.BranchID, r.DrilledAt, want)
	}
	return nil
}
