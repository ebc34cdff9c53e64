package layout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// ist is the default branch zone as a fixed offset, so tests need no tzdata.
var ist = time.FixedZone("IST", 5*3600+30*60)

func TestValidateBranchID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want string // substring of the error; "" for valid
	}{
		{"seed", "branch-andheri", ""},
		{"one letter", "a", ""},
		{"one digit", "7", ""},
		{"63 chars", strings.Repeat("a", 63), ""},
		{"leading digit", "0abc", ""},
		{"inner dashes", "a--b", ""},
		{"empty", "", "empty"},
		{"upper", "A", "may hold only"},
		{"mixed case", "Branch", "may hold only"},
		{"slash", "a/b", "may hold only"},
		{"dot dot", "..", "may hold only"},
		{"dot", "a.b", "may hold only"},
		{"leading dash", "-a", "must start and end"},
		{"trailing dash", "a-", "must start and end"},
		{"only dash", "-", "must start and end"},
		{"underscore", "a_b", "may hold only"},
		{"space", "a b", "may hold only"},
		{"64 chars", strings.Repeat("a", 64), "longer than 63"},
		{"unicode", "brånch", "(found 'å')"},
		{"devanagari", "शाखा", "may hold only"},
		{"nul", "a\x00b", "may hold only"},
		{"invalid utf8", "a\xffb", "may hold only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBranchID(tt.id)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateBranchID(%q) = %v", tt.id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateBranchID(%q) = %v, want error containing %q", tt.id, err, tt.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-02-16", true},
		{"2024-02-29", true},
		{"2026-12-31", true},
		{"2026-02-30", false},
		{"2025-02-29", false},
		{"2026-13-01", false},
		{"2026-00-10", false},
		{"2026-01-00", false},
		{"2026-2-3", false},
		{"2026-02-3", false},
		{"26-02-03", false},
		{"2026/02/03", false},
		{"20260203", false},
		{" 2026-02-03", false},
		{"2026-02-03 ", false},
		{"2026-02-03T00:00:00Z", false},
		{"", false},
		{"1970-01-01", true},
		{"2999-12-31", true},
		{"1969-12-31", false},
		{"3000-01-01", false},
		{"9999-12-31", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDate(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseDate(%q) accepted: %v", tt.in, d)
				}
				if !errors.Is(err, ErrBadKey) {
					t.Errorf("error %v does not wrap ErrBadKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Format(DateFormat); got != tt.in {
				t.Errorf("ParseDate(%q) = %s", tt.in, got)
			}
		})
	}
}

func TestPrefixes(t *testing.T) {
	for _, tt := range []struct {
		fn   func(string) (string, error)
		want string
	}{
		{BranchPrefix, "branch-andheri/"},
		{BackupsPrefix, "branch-andheri/backups/"},
		{MetricsPrefix, "branch-andheri/metrics/"},
	} {
		got, err := tt.fn("branch-andheri")
		if err != nil || got != tt.want {
			t.Errorf("got %q, %v; want %q", got, err, tt.want)
		}
		if got, err := tt.fn("../x"); err == nil || got != "" {
			t.Errorf("bad branch: got %q, %v; want \"\" and an error", got, err)
		}
	}
}

func TestBackupKeyRoundTrip(t *testing.T) {
	taken := time.Date(2026, 2, 17, 22, 0, 5, 0, ist)
	tests := []struct {
		name      string
		encrypted bool
		want      string
	}{
		{"plain", false, "branch-andheri/backups/branch-andheri_20260217_220005.dump"},
		{"encrypted", true, "branch-andheri/backups/branch-andheri_20260217_220005.dump.age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := BackupKey("branch-andheri", taken, tt.encrypted)
			if err != nil || key != tt.want {
				t.Fatalf("BackupKey = %q, %v; want %q", key, err, tt.want)
			}
			k, err := ParseKey(key, ist)
			if err != nil {
				t.Fatal(err)
			}
			if k.Branch != "branch-andheri" || k.Kind != BackupsDir || !k.Date.Equal(taken) ||
				k.Dump.Branch != "branch-andheri" || !k.Dump.Taken.Equal(taken) ||
				k.Dump.Encrypted != tt.encrypted || k.Dump.Name != key[len("branch-andheri/backups/"):] {
				t.Fatalf("ParseKey(%q) = %+v", key, k)
			}
			if k.Dump.Taken.Location() != ist {
				t.Errorf("Taken in %v, want the given zone", k.Dump.Taken.Location())
			}
		})
	}
	if _, err := BackupKey("Bad", taken, false); err == nil {
		t.Error("BackupKey accepted a bad branch")
	}
}

func TestMetricsKeyRoundTrip(t *testing.T) {
	// 23:59 IST on the 16th is the 16th whatever the zone of the time value.
	d := time.Date(2026, 2, 16, 23, 59, 59, 0, ist)
	key, err := MetricsKey("branch-andheri", d)
	if err != nil || key != "branch-andheri/metrics/2026-02-16.json" {
		t.Fatalf("MetricsKey = %q, %v", key, err)
	}
	k, err := ParseKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Branch != "branch-andheri" || k.Kind != MetricsDir || k.Date.Format(DateFormat) != "2026-02-16" {
		t.Fatalf("ParseKey = %+v", k)
	}
	if _, err := MetricsKey("", d); err == nil {
		t.Error("MetricsKey accepted an empty branch")
	}
}

func TestManifestKeyRoundTrip(t *testing.T) {
	taken := time.Date(2026, 2, 17, 22, 0, 5, 0, ist)
	for _, encrypted := range []bool{false, true} {
		dump, err := BackupKey("branch-andheri", taken, encrypted)
		if err != nil {
			t.Fatal(err)
		}
		key, err := ManifestKey(dump)
		if err != nil || key != dump+".manifest.json" {
			t.Fatalf("ManifestKey(%q) = %q, %v", dump, key, err)
		}
		k, err := ParseKey(key, ist)
		if err != nil {
			t.Fatal(err)
		}
		if k.Kind != ManifestKind || k.Branch != "branch-andheri" || k.DumpKey != dump ||
			!k.Dump.Taken.Equal(taken) || k.Dump.Encrypted != encrypted {
			t.Fatalf("ParseKey(%q) = %+v", key, k)
		}
	}
	for _, bad := range []string{"branch-andheri/metrics/2026-02-16.json", "branch-andheri/backups/x.dump", "branch-andheri/backups/branch-andheri_20260217_220005.dump.manifest.json"} {
		if _, err := ManifestKey(bad); err == nil {
			t.Errorf("ManifestKey(%q) accepted a key that is not a dump", bad)
		}
	}
}

func TestDrillKeyRoundTrip(t *testing.T) {
	d := time.Date(2026, 2, 22, 3, 0, 0, 0, ist)
	key, err := DrillKey("branch-andheri", d)
	if err != nil || key != "branch-andheri/drills/2026-02-22.json" {
		t.Fatalf("DrillKey = %q, %v", key, err)
	}
	k, err := ParseKey(key, ist)
	if err != nil {
		t.Fatal(err)
	}
	if k.Kind != DrillsDir || k.Branch != "branch-andheri" || k.Date.Format(DateFormat) != "2026-02-22" {
		t.Fatalf("ParseKey(%q) = %+v", key, k)
	}
	if p, _ := DrillsPrefix("branch-andheri"); !strings.HasPrefix(key, p) {
		t.Errorf("%q is not under DrillsPrefix %q", key, p)
	}
	if _, err := DrillKey("Bad", d); err == nil {
		t.Error("DrillKey accepted a bad branch")
	}
}

func TestMonthlyKeyRoundTrip(t *testing.T) {
	// The 31st at 23:59 IST is January whatever the zone of the time value.
	d := time.Date(2026, 1, 31, 23, 59, 59, 0, ist)
	key, err := MonthlyKey("branch-andheri", d)
	if err != nil || key != "branch-andheri/metrics/monthly/2026-01.json" {
		t.Fatalf("MonthlyKey = %q, %v", key, err)
	}
	k, err := ParseKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Branch != "branch-andheri" || k.Kind != MonthlyKind || k.Date.Format(DateFormat) != "2026-01-01" {
		t.Fatalf("ParseKey = %+v", k)
	}
	// A bundle is never taken for a daily document.
	if k.Kind == MetricsDir {
		t.Fatal("a monthly key parsed as a daily metrics key")
	}
	daily, _ := MetricsKey("branch-andheri", time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC))
	prefix, _ := MonthlyPrefix("branch-andheri")
	if daily >= prefix || !strings.HasPrefix(key, prefix) {
		t.Errorf("daily key %q must sort before the monthly prefix %q, which holds %q", daily, prefix, key)
	}
	if _, err := MonthlyKey("", d); err == nil {
		t.Error("MonthlyKey accepted an empty branch")
	}
}

func TestParseKeyRejects(t *testing.T) {
	tests := []struct {
		name string
		key  string
	}{
		{"dot dot branch", "../x/metrics/2026-01-01.json"},
		{"traversal after", "a/metrics/../../x"},
		{"absolute", "/a/metrics/2026-01-01.json"},
		{"branch mismatch", "a/backups/b_20260101_220000.dump"},
		{"month 13", "a/metrics/2026-13-01.json"},
		{"dump Feb 30", "a/backups/a_20260230_220000.dump"},
		{"dump hour 24", "a/backups/a_20260101_240000.dump"},
		{"empty", ""},
		{"branch only", "a/"},
		{"two parts", "a/metrics"},
		{"trailing slash", "a/metrics/2026-01-01.json/"},
		{"four parts", "a/metrics/x/2026-01-01.json"},
		{"unknown folder", "a/other/2026-01-01.json"},
		{"metrics wrong ext", "a/metrics/2026-01-01.txt"},
		{"metrics ext only", "a/metrics/.json"},
		{"metrics double ext", "a/metrics/2026-01-01.json.json"},
		{"dump wrong ext", "a/backups/a_20260101_220000.sql"},
		{"dump no stamp", "a/backups/a.dump"},
		{"dump short stamp", "a/backups/a_2026010_220000.dump"},
		{"dump no branch", "a/backups/_20260101_220000.dump"},
		{"dump no separator", "a/backups/a20260101_220000.dump"},
		{"upper branch", "A/metrics/2026-01-01.json"},
		{"backslash", `a\metrics\2026-01-01.json`},
		{"drill not a date", "a/drills/latest.json"},
		{"drill wrong ext", "a/drills/2026-01-01.txt"},
		{"manifest of no dump", "a/backups/a.manifest.json"},
		{"manifest of other branch", "a/backups/b_20260101_220000.dump.manifest.json"},
		{"manifest of a manifest", "a/backups/a_20260101_220000.dump.manifest.json.manifest.json"},
		{"monthly month 13", "a/metrics/monthly/2026-13.json"},
		{"monthly a date", "a/metrics/monthly/2026-01-01.json"},
		{"monthly wrong ext", "a/metrics/monthly/2026-01.txt"},
		{"monthly short year", "a/metrics/monthly/26-01.json"},
		{"monthly bad branch", "A/metrics/monthly/2026-01.json"},
		{"monthly nested", "a/metrics/monthly/x/2026-01.json"},
		{"monthly year out of range", "a/metrics/monthly/1969-12.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.key, ist)
			if err == nil {
				t.Fatalf("ParseKey(%q) accepted: %+v", tt.key, k)
			}
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("ParseKey(%q) error %v does not wrap ErrBadKey", tt.key, err)
			}
		})
	}
}

func TestParseDumpNameDefaultsToUTC(t *testing.T) {
	d, err := ParseDumpName("a_20260101_220000.dump", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Taken.Location() != time.UTC || d.Taken.Hour() != 22 {
		t.Fatalf("Taken = %v", d.Taken)
	}
}

// FuzzParseKey: ParseKey never panics, and a key it accepts is rebuilt
// exactly by BackupKey or MetricsKey from the parsed parts.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"branch-andheri/metrics/2026-02-16.json",
		"branch-andheri/backups/branch-andheri_20260217_220005.dump",
		"branch-andheri/backups/branch-andheri_20260217_220005.dump.age",
		"../x/metrics/2026-01-01.json",
		"a/metrics/../../x",
		"/a/metrics/2026-01-01.json",
		"a/backups/b_20260101_220000.dump",
		"a/metrics/2026-13-01.json",
		"a/backups/a_20260230_220000.dump",
		"a/backups/a-b_20260101_220000.dump",
		"a/backups/a_20260101_220000.dump.age.manifest.json",
		"a/drills/2026-02-22.json",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := ParseKey(key, ist)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("ParseKey(%q) error %v does not wrap ErrBadKey", key, err)
			}
			return
		}
		var rebuilt string
		switch k.Kind {
		case MetricsDir:
			rebuilt, err = MetricsKey(k.Branch, k.Date)
		case DrillsDir:
			rebuilt, err = DrillKey(k.Branch, k.Date)
		case ManifestKind:
			rebuilt, err = ManifestKey(k.DumpKey)
		case BackupsDir:
			if k.Dump.Branch != k.Branch {
				t.Fatalf("ParseKey(%q): dump branch %q under %q", key, k.Dump.Branch, k.Branch)
			}
			rebuilt, err = BackupKey(k.Branch, k.Dump.Taken, k.Dump.Encrypted)
		default:
			t.Fatalf("ParseKey(%q): kind %q", key, k.Kind)
		}
		if err != nil {
			t.Fatalf("rebuilding %q: %v", key, err)
		}
		if rebuilt != key {
			t.Fatalf("ParseKey(%q) rebuilt as %q", key, rebuilt)
		}
	})
}

func TestAgentStatusKey(t *testing.T) {
	for _, tc := range []struct {
		branch, want string
		ok           bool
	}{
		{"branch-andheri", "branch-andheri/agent/status.json", true},
		{"b1", "b1/agent/status.json", true},
		{"Bad_ID", "", false},
		{"", "", false},
	} {
		got, err := AgentStatusKey(tc.branch)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("AgentStatusKey(%q) = %q, %v; want %q (ok %v)", tc.branch, got, err, tc.want, tc.ok)
		}
	}
}

// TestYearHorizon: a key or dump name dated beyond MaxYear is malformed
// with a reason naming the year, so that nothing a day later (a next-due
// time) can fall outside what JSON can encode.
func TestYearHorizon(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"metrics 9999", "evil/metrics/9999-12-31.json", "year outside 1970-2999"},
		{"dump 9999", "x/backups/x_99991231_235959.dump", "year 9999 is outside 1970-2999"},
		{"dump 1900", "x/backups/x_19000101_000000.dump", "year 1900 is outside 1970-2999"},
		{"metrics 2999", "ok/metrics/2999-12-31.json", ""},
		{"dump 2999", "x/backups/x_29991231_235959.dump.age", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKey(tt.key, time.UTC)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKey(%q) = %v, want an ErrBadKey saying %q", tt.key, err, tt.want)
			}
		})
	}
}

// TestHasKeyShape: the shape of a branch's key, whatever its date.
func TestHasKeyShape(t *testing.T) {
	for key, want := range map[string]bool{
		"evil/metrics/9999-12-31.json":         true,
		"a/metrics/2026-02-16.json":            true,
		"x/backups/x_99991231_235959.dump":     true,
		"x/backups/x_20260216_220005.dump.age": true,
		"x/backups/y_20260216_220005.dump":     false,
		"x/backups/x_2026021_220005.dump":      false,
		"a/metrics/2026-2-16.json":             false,
		"a/metrics/notes.json":                 false,
		"archive/.bzEmpty":                     false,
		"a/b/metrics/2026-02-16.json":          false,
		"Bad/metrics/2026-02-16.json":          false,
		"x/backups/x_20260216_220005.manifest": false,
	} {
		if got := HasKeyShape(key); got != want {
			t.Errorf("HasKeyShape(%q) = %v, want %v", key, got, want)
		}
	}
}

// TestParseRangeBound: a range's end may lie beyond the accepted years; it
// is clamped, and still must be a real date.
func TestParseRangeBound(t *testing.T) {
	for in, want := range map[string]string{
		"2026-02-16": "2026-02-16",
		"9999-12-31": "2999-12-31",
		"0001-01-01": "1970-01-01",
		"2026-02-30": "",
		"tomorrow":   "",
	} {
		got, err := ParseRangeBound(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseRangeBound(%q) accepted: %v", in, got)
			}
			continue
		}
		if err != nil || got.Format(DateFormat) != want {
			t.Errorf("ParseRangeBound(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}
