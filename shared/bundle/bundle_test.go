package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func globFixtures(tb testing.TB, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no fixtures match %s", pattern)
	}
	return files
}

func decodeAndValidate(data []byte) (Bundle, error) {
	b, err := Unmarshal(data)
	if err != nil {
		return b, err
	}
	return b, b.Validate()
}

// TestGoodFixtures decodes, validates and re-encodes every good bundle:
// the encoding is byte-exact, and every body is the SHA-256's preimage.
func TestGoodFixtures(t *testing.T) {
	for _, path := range globFixtures(t, "good/*.json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in := readFixture(t, path)
			b, err := decodeAndValidate(in)
			if err != nil {
				t.Fatalf("decode and validate: %v", err)
			}
			for _, e := range b.Documents {
				sum := sha256.Sum256(e.Body)
				if hex.EncodeToString(sum[:]) != e.SHA256 {
					t.Errorf("%s: body does not hash to its sha256", e.Date)
				}
			}
			out, err := b.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(path, "unknown-field") {
				return // the extra field is dropped on re-encoding
			}
			if !bytes.Equal(out, in) {
				t.Errorf("encode is not byte-exact:\n got %s\nwant %s", out, in)
			}
		})
	}
}

// TestBadFixtures requires every testdata/bad/NAME.json to be refused with
// an error containing NAME.err.
func TestBadFixtures(t *testing.T) {
	for _, path := range globFixtures(t, "bad/*.json") {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			want := strings.TrimSpace(string(readFixture(t, strings.TrimSuffix(path, ".json")+".err")))
			if want == "" {
				t.Fatal("empty .err file")
			}
			_, err := decodeAndValidate(readFixture(t, path))
			if err == nil {
				t.Fatalf("accepted; want error containing %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q\ndoes not contain %q", err, want)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q wraps none of ErrMalformed, ErrUnsupportedVersion, ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestBadFixturesPaired(t *testing.T) {
	for _, path := range globFixtures(t, "bad/*.err") {
		if _, err := os.Stat(strings.TrimSuffix(path, ".err") + ".json"); err != nil {
			t.Errorf("%s has no .json: %v", path, err)
		}
	}
}

// TestBytesSurviveExactly: any bytes, JSON or not, come back unchanged.
func TestBytesSurviveExactly(t *testing.T) {
	bodies := [][]byte{
		[]byte("{\n  \"a\": \"<>&\u00e9\"\n}\n"),
		{0xff, 0xfe, 0, '"', '\\', '\n'},
		bytes.Repeat([]byte("x"), 1000),
	}
	in := Bundle{SchemaVersion: CurrentVersion, BranchID: "b1", Month: "2026-01", GeneratedAt: "2026-02-03T22:30:00+05:30"}
	for i, body := range bodies {
		in.Documents = append(in.Documents, NewEntry("2026-01-0"+string(rune('1'+i)), body))
	}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeAndValidate(data)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range bodies {
		if !bytes.Equal(out.Documents[i].Body, body) {
			t.Errorf("document %d: got %q, want %q", i, out.Documents[i].Body, body)
		}
	}
	if e, ok := out.Find("2026-01-02"); !ok || !bytes.Equal(e.Body, bodies[1]) {
		t.Errorf("Find(2026-01-02) = %v, %v", e, ok)
	}
	if _, ok := out.Find("2026-01-09"); ok {
		t.Error("Find found a date the bundle lacks")
	}
}

func TestCheckKey(t *testing.T) {
	b := Bundle{BranchID: "b1", Month: "2026-01"}
	tests := []struct {
		name, key, want string
	}{
		{"match", "b1/metrics/monthly/2026-01.json", ""},
		{"other branch", "b2/metrics/monthly/2026-01.json", `branch_id "b1" under prefix "b2"`},
		{"other month", "b1/metrics/monthly/2026-02.json", `month "2026-01" in the key of 2026-02`},
		{"daily key", "b1/metrics/2026-01-01.json", "not a monthly bundle key"},
		{"garbage", "b1/metrics/monthly/jan.json", "not a month"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.CheckKey(tt.key)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckKey(%q) = %v, want ErrKeyMismatch containing %q", tt.key, err, tt.want)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	if _, err := Unmarshal(make([]byte, MaxBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if _, err := Decode(bytes.NewReader(make([]byte, MaxBytes+1))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode: got %v, want ErrTooLarge", err)
	}
}
