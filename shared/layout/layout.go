// Package layout is the one place that builds and parses bucket keys.
//
// The bucket holds, per branch:
//
//	{branch}/backups/{branch}_{YYYYMMDD}_{HHMMSS}.dump[.age]
//	{branch}/backups/{branch}_{YYYYMMDD}_{HHMMSS}.dump[.age].manifest.json
//	{branch}/metrics/{YYYY-MM-DD}.json
//	{branch}/metrics/monthly/{YYYY-MM}.json
//	{branch}/agent/status.json
//	{branch}/drills/{YYYY-MM-DD}.json
//
// Nothing else in Branchwatch builds a key by hand.
package layout

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// MaxBranchIDLen is the longest branch id accepted (a DNS label).
	MaxBranchIDLen = 63
	// BackupsDir is the folder under a branch prefix holding dumps.
	BackupsDir = "backups"
	// MetricsDir is the folder under a branch prefix holding metrics documents.
	MetricsDir = "metrics"
	// MonthlyDir is the folder under MetricsDir holding monthly bundles.
	// ParseKey gives their keys Kind MonthlyKind, never MetricsDir, so that
	// no reader of daily documents mistakes a bundle for one.
	MonthlyDir = "monthly"
	// MonthlyKind is the Key.Kind of a monthly bundle key.
	MonthlyKind = MetricsDir + "/" + MonthlyDir
	// MonthFormat is the month of a monthly bundle key.
	MonthFormat = "2006-01"
	// AgentDir is the folder under a branch prefix holding the agent's own
	// documents.
	AgentDir = "agent"
	// AgentStatusName is the agent status object's name in AgentDir.
	AgentStatusName = "status.json"
	// DrillsDir is the folder under a branch prefix holding restore drill
	// records, one per branch-local date.
	DrillsDir = "drills"
	// ManifestKind is Key.Kind of a dump's manifest (it sits in BackupsDir
	// beside its dump, but is not a dump).
	ManifestKind = "manifest"
	// ManifestExt follows the dump's file name in its manifest's name.
	ManifestExt = ".manifest.json"
	// DumpExt is the extension of a plain custom-format dump.
	DumpExt = ".dump"
	// EncryptedDumpExt is the extension of an age-encrypted dump.
	EncryptedDumpExt = ".dump.age"
	// MetricsExt is the extension of a metrics document.
	MetricsExt = ".json"
	// DateFormat is the business date format of metrics keys and documents.
	DateFormat = "2006-01-02"
	// stampFormat is the local timestamp in dump names.
	stampFormat = "20060102_150405"
	// MinYear and MaxYear bound the dates accepted in keys and documents.
	// A date outside them is a malformed key: a year-9999 name must not
	// reach the aggregator, whose next-due times (a day later) would be
	// out of the range JSON and RFC 3339 can encode.
	MinYear = 1970
	MaxYear = 2999
)

// CheckYear refuses a time whose year is outside MinYear..MaxYear.
func CheckYear(t time.Time) error {
	if y := t.Year(); y < MinYear || y > MaxYear {
		return fmt.Errorf("%w: year %d is outside %d-%d", ErrBadKey, y, MinYear, MaxYear)
	}
	return nil
}

// ErrBadKey is wrapped by every parse error.
var ErrBadKey = errors.New("malformed key")

// ValidateBranchID checks a branch id: 1 to 63 characters of a-z, 0-9 and
// '-', starting and ending with a letter or digit.
func ValidateBranchID(id string) error {
	if id == "" {
		return errors.New("branch id is empty")
	}
	if len(id) > MaxBranchIDLen {
		return fmt.Errorf("branch id %q is longer than %d characters", id, MaxBranchIDLen)
	}
	for i, c := range id { // c is a rune, so the error shows 'é', not its first byte
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i == 0 || i == len(id)-1 {
				return fmt.Errorf("branch id %q must start and end with a letter or digit", id)
			}
		default:
			return fmt.Errorf("branch id %q may hold only a-z, 0-9 and '-' (found %q)", id, c)
		}
	}
	return nil
}

// ParseDate parses a business date (YYYY-MM-DD), refusing dates that do not
// exist (2026-02-30), any other spelling, and years outside
// MinYear..MaxYear.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateFormat, s)
	if err != nil || t.Format(DateFormat) != s {
		return time.Time{}, fmt.Errorf("%w: %q is not a date (YYYY-MM-DD)", ErrBadKey, s)
	}
	if err := CheckYear(t); err != nil {
		return time.Time{}, fmt.Errorf("%w: date %s: year outside %d-%d", ErrBadKey, s, MinYear, MaxYear)
	}
	return t, nil
}

// ParseRangeBound parses a date used only as the end of a range (a query's
// from or to): any real YYYY-MM-DD, clamped into MinYear..MaxYear, so that
// "to=9999-12-31" still means "open-ended" although no key holds that date.
func ParseRangeBound(s string) (time.Time, error) {
	t, err := time.Parse(DateFormat, s)
	if err != nil || t.Format(DateFormat) != s {
		return time.Time{}, fmt.Errorf("%w: %q is not a date (YYYY-MM-DD)", ErrBadKey, s)
	}
	switch {
	case t.Year() > MaxYear:
		t = time.Date(MaxYear, 12, 31, 0, 0, 0, 0, time.UTC)
	case t.Year() < MinYear:
		t = time.Date(MinYear, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t, nil
}

// BranchPrefix is "{branch}/".
func BranchPrefix(branch string) (string, error) {
	if err := ValidateBranchID(branch); err != nil {
		return "", err
	}
	return branch + "/", nil
}

// BackupsPrefix is "{branch}/backups/".
func BackupsPrefix(branch string) (string, error) {
	p, err := BranchPrefix(branch)
	if err != nil {
		return "", err
	}
	return p + BackupsDir + "/", nil
}

// MetricsPrefix is "{branch}/metrics/".
func MetricsPrefix(branch string) (string, error) {
	p, err := BranchPrefix(branch)
	if err != nil {
		return "", err
	}
	return p + MetricsDir + "/", nil
}

// DrillsPrefix is "{branch}/drills/".
func DrillsPrefix(branch string) (string, error) {
	p, err := BranchPrefix(branch)
	if err != nil {
		return "", err
	}
	return p + DrillsDir + "/", nil
}

// DrillKey is "{branch}/drills/{YYYY-MM-DD}.json" for the calendar date of d
// (the branch-local date of the drill).
func DrillKey(branch string, d time.Time) (string, error) {
	p, err := DrillsPrefix(branch)
	if err != nil {
		return "", err
	}
	return p + d.Format(DateFormat) + MetricsExt, nil
}

// ManifestKey is the key of the manifest of the dump at backupKey:
// "{branch}/backups/{dump name}.manifest.json". backupKey must be a dump key.
func ManifestKey(backupKey string) (string, error) {
	k, err := ParseKey(backupKey, time.UTC)
	if err != nil {
		return "", err
	}
	if k.Kind != BackupsDir {
		return "", fmt.Errorf("%w: %q is not a dump key", ErrBadKey, backupKey)
	}
	return backupKey + ManifestExt, nil
}

// DumpName is the file name of a dump taken at local time t:
// "{branch}_{YYYYMMDD}_{HHMMSS}.dump", or ".dump.age" when encrypted.
func DumpName(branch string, t time.Time, encrypted bool) (string, error) {
	if err := ValidateBranchID(branch); err != nil {
		return "", err
	}
	ext := DumpExt
	if encrypted {
		ext = EncryptedDumpExt
	}
	return branch + "_" + t.Format(stampFormat) + ext, nil
}

// BackupKey is "{branch}/backups/{DumpName}".
func BackupKey(branch string, t time.Time, encrypted bool) (string, error) {
	name, err := DumpName(branch, t, encrypted)
	if err != nil {
		return "", err
	}
	return branch + "/" + BackupsDir + "/" + name, nil
}

// MetricsKey is "{branch}/metrics/{YYYY-MM-DD}.json" for the calendar date of d
// (its year, month and day as written, whatever its location).
func MetricsKey(branch string, d time.Time) (string, error) {
	if err := ValidateBranchID(branch); err != nil {
		return "", err
	}
	return branch + "/" + MetricsDir + "/" + d.Format(DateFormat) + MetricsExt, nil
}

// MonthlyPrefix is "{branch}/metrics/monthly/". Every daily metrics key of
// the branch sorts before it ('2' < 'm').
func MonthlyPrefix(branch string) (string, error) {
	p, err := MetricsPrefix(branch)
	if err != nil {
		return "", err
	}
	return p + MonthlyDir + "/", nil
}

// MonthlyKey is "{branch}/metrics/monthly/{YYYY-MM}.json", the bundle of the
// calendar month of d (its year and month as written, whatever its location).
func MonthlyKey(branch string, d time.Time) (string, error) {
	p, err := MonthlyPrefix(branch)
	if err != nil {
		return "", err
	}
	return p + d.Format(MonthFormat) + MetricsExt, nil
}

// ParseMonth parses a bundle month (YYYY-MM) into the first day of that
// month, UTC, refusing any other spelling and years outside
// MinYear..MaxYear, as ParseDate does.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse(MonthFormat, s)
	if err != nil || t.Format(MonthFormat) != s {
		return time.Time{}, fmt.Errorf("%w: %q is not a month (YYYY-MM)", ErrBadKey, s)
	}
	if err := CheckYear(t); err != nil {
		return time.Time{}, fmt.Errorf("%w: month %s: year outside %d-%d", ErrBadKey, s, MinYear, MaxYear)
	}
	return t, nil
}

// AgentStatusKey is "{branch}/agent/status.json": the agent's last status,
// overwritten in place (one object per branch, so that a key that cannot
// delete can still write it).
func AgentStatusKey(branch string) (string, error) {
	if err := ValidateBranchID(branch); err != nil {
		return "", err
	}
	return branch + "/" + AgentDir + "/" + AgentStatusName, nil
}

// Dump is a parsed dump name.
type Dump struct {
	Branch    string
	Taken     time.Time // wall clock of the branch, in the location given to the parser
	Encrypted bool
	Name      string // file name without folder
}

// ParseDumpName parses "{branch}_{YYYYMMDD}_{HHMMSS}.dump[.age]", reading the
// timestamp in loc (the branch's zone).
func ParseDumpName(name string, loc *time.Location) (Dump, error) {
	d := Dump{Name: name}
	base := name
	switch {
	case strings.HasSuffix(base, EncryptedDumpExt):
		d.Encrypted = true
		base = strings.TrimSuffix(base, EncryptedDumpExt)
	case strings.HasSuffix(base, DumpExt):
		base = strings.TrimSuffix(base, DumpExt)
	default:
		return Dump{}, fmt.Errorf("%w: %q does not end in %s", ErrBadKey, name, DumpExt)
	}
	// The stamp is the last 15 characters: YYYYMMDD_HHMMSS, preceded by '_'.
	if len(base) < len(stampFormat)+2 || base[len(base)-len(stampFormat)-1] != '_' {
		return Dump{}, fmt.Errorf("%w: %q is not {branch}_{YYYYMMDD}_{HHMMSS}%s", ErrBadKey, name, DumpExt)
	}
	stamp := base[len(base)-len(stampFormat):]
	d.Branch = base[:len(base)-len(stampFormat)-1]
	if err := ValidateBranchID(d.Branch); err != nil {
		return Dump{}, fmt.Errorf("%w: %q: %v", ErrBadKey, name, err)
	}
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(stampFormat, stamp, loc)
	if err != nil || t.Format(stampFormat) != stamp {
		return Dump{}, fmt.Errorf("%w: %q has no valid timestamp", ErrBadKey, name)
	}
	if CheckYear(t) != nil {
		return Dump{}, fmt.Errorf("%w: %q: year %d is outside %d-%d", ErrBadKey, name, t.Year(), MinYear, MaxYear)
	}
	d.Taken = t
	return d, nil
}

// Key is a parsed bucket key.
type Key struct {
	Branch string
	Kind   string // BackupsDir (a dump), ManifestKind, MetricsDir, MonthlyKind or DrillsDir
	// Date is the key's date; the first of the month for MonthlyKind.
	Date time.Time
	// Dump is set when Kind is BackupsDir, or ManifestKind (the dump the
	// manifest describes).
	Dump Dump
	// DumpKey is the key of the dump a manifest describes (ManifestKind).
	DumpKey string
}

// ParseKey parses a backup, manifest, metrics, monthly bundle or drill
// key. Dump timestamps are read in loc. A manifest parses with Kind
// ManifestKind, never BackupsDir: callers that look for dumps skip it; a
// monthly bundle with Kind MonthlyKind, never MetricsDir.
func ParseKey(key string, loc *time.Location) (Key, error) {
	parts := strings.Split(key, "/")
	if len(parts) == 4 && parts[1] == MetricsDir && parts[2] == MonthlyDir {
		return parseMonthlyKey(key, parts[0], parts[3])
	}
	if len(parts) != 3 {
		return Key{}, fmt.Errorf("%w: %q is not {branch}/{backups|metrics|drills}/{name}", ErrBadKey, key)
	}
	branch, kind, name := parts[0], parts[1], parts[2]
	if err := ValidateBranchID(branch); err != nil {
		return Key{}, fmt.Errorf("%w: %q: %v", ErrBadKey, key, err)
	}
	switch kind {
	case MetricsDir, DrillsDir:
		if !strings.HasSuffix(name, MetricsExt) {
			return Key{}, fmt.Errorf("%w: %q does not end in %s", ErrBadKey, key, MetricsExt)
		}
		d, err := ParseDate(strings.TrimSuffix(name, MetricsExt))
		if err != nil {
			return Key{}, fmt.Errorf("%w: %q: %v", ErrBadKey, key, strings.TrimPrefix(err.Error(), ErrBadKey.Error()+": "))
		}
		return Key{Branch: branch, Kind: kind, Date: d}, nil
	case BackupsDir:
		if dumpName, ok := strings.CutSuffix(name, ManifestExt); ok {
			d, err := ParseDumpName(dumpName, loc)
			if err != nil {
				return Key{}, err
			}
			if d.Branch != branch {
				return Key{}, fmt.Errorf("%w: %q: manifest of branch %q under prefix %q", ErrBadKey, key, d.Branch, branch)
			}
			return Key{Branch: branch, Kind: ManifestKind, Date: d.Taken, Dump: d, DumpKey: strings.TrimSuffix(key, ManifestExt)}, nil
		}
		d, err := ParseDumpName(name, loc)
		if err != nil {
			return Key{}, err
		}
		if d.Branch != branch {
			return Key{}, fmt.Errorf("%w: %q: dump of branch %q under prefix %q", ErrBadKey, key, d.Branch, branch)
		}
		return Key{Branch: branch, Kind: kind, Date: d.Taken, Dump: d}, nil
	default:
		return Key{}, fmt.Errorf("%w: %q: unknown folder %q", ErrBadKey, key, kind)
	}
}

// HasKeyShape reports whether key is shaped like a metrics or backup key
// of its branch prefix, digits where the date goes, whatever the date's
// value: "{branch}/metrics/dddd-dd-dd.json" or
// "{branch}/backups/{branch}_dddddddd_dddddd.dump[.age]". ParseKey then
// says whether the date is real and in range.
func HasKeyShape(key string) bool {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || ValidateBranchID(parts[0]) != nil {
		return false
	}
	switch name := parts[2]; parts[1] {
	case MetricsDir:
		return digitsLike(strings.TrimSuffix(name, MetricsExt), "0000-00-00") && strings.HasSuffix(name, MetricsExt)
	case BackupsDir:
		base, ok := strings.CutSuffix(name, EncryptedDumpExt)
		if !ok {
			base, ok = strings.CutSuffix(name, DumpExt)
		}
		stamp, found := strings.CutPrefix(base, parts[0]+"_")
		return ok && found && digitsLike(stamp, "00000000_000000")
	}
	return false
}

// digitsLike reports whether s has pattern's shape, a digit wherever
// pattern has '0' and pattern's byte elsewhere.
func digitsLike(s, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := range len(s) {
		if pattern[i] == '0' && (s[i] < '0' || s[i] > '9') || pattern[i] != '0' && s[i] != pattern[i] {
			return false
		}
	}
	return true
}

// parseMonthlyKey parses the parts of "{branch}/metrics/monthly/{name}".
func parseMonthlyKey(key, branch, name string) (Key, error) {
	if err := ValidateBranchID(branch); err != nil {
		return Key{}, fmt.Errorf("%w: %q: %v", ErrBadKey, key, err)
	}
	m, ok := strings.CutSuffix(name, MetricsExt)
	if !ok {
		return Key{}, fmt.Errorf("%w: %q does not end in %s", ErrBadKey, key, MetricsExt)
	}
	t, err := ParseMonth(m)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %q: not a month (YYYY-MM)", ErrBadKey, key)
	}
	return Key{Branch: branch, Kind: MonthlyKind, Date: t}, nil
}
