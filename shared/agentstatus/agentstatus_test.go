package agentstatus

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 2, 16, 21, 40, 0, 0, time.FixedZone("IST", 19800))
	for _, failing := range [][]string{nil, {`DATABASE_URL: password authentication failed for user "bw"`}} {
		s := New("branch-andheri", "1.2.3", at, failing)
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if got.UpdatedAt != "2026-02-16T21:40:00+05:30" || got.BranchID != "branch-andheri" || len(got.Failing) != len(failing) {
			t.Errorf("round trip: %+v", got)
		}
		if want := map[bool]string{true: ChecksOK, false: ChecksFailing}[failing == nil]; got.Checks != want {
			t.Errorf("checks %q, want %q", got.Checks, want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"not json":       {`{`, "malformed"},
		"wrong version":  {`{"schema_version":2,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"ok"}`, "schema_version"},
		"bad branch":     {`{"schema_version":1,"branch_id":"B 1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"ok"}`, "branch_id"},
		"bad time":       {`{"schema_version":1,"branch_id":"b1","updated_at":"yesterday","agent_version":"x","checks":"ok"}`, "updated_at"},
		"no version":     {`{"schema_version":1,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","checks":"ok"}`, "agent_version"},
		"failing empty":  {`{"schema_version":1,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"failing"}`, "failing is empty"},
		"ok with errors": {`{"schema_version":1,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"ok","failing":["x"]}`, "not empty"},
		"unknown checks": {`{"schema_version":1,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"meh"}`, "meh"},
		"too large":      {`"` + strings.Repeat("x", MaxBytes) + `"`, "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v, want ErrMalformed naming %q", err, tc.want)
			}
		})
	}
}
