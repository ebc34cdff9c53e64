package drill

import (
	"errors"
	"testing"

	"github.com/branchwatch/branchwatch/shared/internal/fixtures"
)

func check(data []byte) ([]byte, error) {
	r, err := Unmarshal(data)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r.Marshal()
}

func TestFixtures(t *testing.T) {
	fixtures.Run(t, fixtures.Codec{Check: check, Sentinels: []error{ErrMalformed, ErrUnsupportedVersion, ErrInvalid, ErrTooLarge}})
}

func TestCheckKey(t *testing.T) {
	// 00:30 in Kolkata on the 22nd is the 21st in UTC: the branch's date counts.
	r := Record{BranchID: "b", DrilledAt: "2026-02-22T00:30:00+05:30"}
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"branch date", "b/drills/2026-02-22.json", true},
		{"UTC date", "b/drills/2026-02-21.json", false},
		{"other branch", "c/drills/2026-02-22.json", false},
		{"metrics folder", "b/metrics/2026-02-22.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.CheckKey(tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckKey(%q) = %v", tt.key, err)
			}
			if err != nil && !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("%v does not wrap ErrKeyMismatch", err)
			}
		})
	}
}

func TestMarshalEmptyCollections(t *testing.T) {
	// A failed drill that got nowhere still writes a record readers accept.
	r := Record{SchemaVersion: 1, BranchID: "b", DrilledAt: "2026-02-22T03:00:00+05:30", Error: "no backup found"}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check(b); err != nil {
		t.Fatalf("a record without tables does not read back: %v\n%s", err, b)
	}
}
