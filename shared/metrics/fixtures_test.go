package metrics

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readFixture reads a file under testdata.
func readFixture(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// decodeAndValidate is what a reader does with an object's bytes.
func decodeAndValidate(data []byte) (Document, error) {
	d, err := Unmarshal(data)
	if err != nil {
		return d, err
	}
	return d, d.Validate()
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

func TestGoodFixtures(t *testing.T) {
	for _, path := range globFixtures(t, "good/*.json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in := readFixture(t, path)
			d, err := decodeAndValidate(in)
			if err != nil {
				t.Fatalf("decode and validate: %v", err)
			}
			out, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(path, "unknown-field") {
				// Extra fields are dropped on re-encoding; the known ones survive.
				again, err := Unmarshal(out)
				if err != nil || again != d {
					t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, again, d)
				}
				return
			}
			if !bytes.Equal(out, in) {
				t.Errorf("encode is not byte-exact:\n got %s\nwant %s", out, in)
			}
		})
	}
}

// TestBadFixtures decodes and validates every testdata/bad/NAME.json and
// requires the error to contain the text of NAME.err.
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
		})
	}
}

// TestBadFixturesPaired catches an .err without its .json (a typo would
// otherwise silently skip a case).
func TestBadFixturesPaired(t *testing.T) {
	for _, path := range globFixtures(t, "bad/*.err") {
		if _, err := os.Stat(strings.TrimSuffix(path, ".err") + ".json"); err != nil {
			t.Errorf("%s has no .json: %v", path, err)
		}
	}
}
