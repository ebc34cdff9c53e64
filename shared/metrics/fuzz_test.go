package metrics

import (
	"testing"
)

// FuzzDecode: decoding and validating never panic, and a document that
// passes both survives Marshal and Unmarshal unchanged.
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"good/*.json", "bad/*.json"} {
		for _, path := range globFixtures(f, pattern) {
			f.Add(readFixture(f, path))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeAndValidate(data)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a valid document: %v", err)
		}
		if len(out) > MaxDocumentBytes {
			// Re-encoding can grow a document near the limit (U+2028 is
			// escaped to six bytes); no agent writes one that large.
			return
		}
		again, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(d)): %v\n%s", err, out)
		}
		if again != d {
			t.Fatalf("round trip changed the document:\n got %+v\nwant %+v", again, d)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("round trip broke validity: %v", err)
		}
		out2, _ := again.Marshal()
		if string(out2) != string(out) {
			t.Fatalf("encoding not stable:\n%s\n%s", out, out2)
		}
	})
}
