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
		s.Instance = "pos-1/0123456789abcdef"
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if got.UpdatedAt != "2026-02-16T21:40:00+05:30" || got.BranchID != "branch-andheri" || len(got.Failing) != len(failing) ||
			got.Instance != "pos-1/0123456789abcdef" {
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
		"bad instance":   {`{"schema_version":1,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"ok","instance":"pos 1"}`, "instance"},
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

func TestDetailsRoundTrip(t *testing.T) {
	free, size := int64(5<<30), int64(3<<20)
	s := New("b1", "1.2.3", time.Date(2026, 2, 16, 22, 5, 0, 0, time.UTC), nil)
	s.ServerVersion, s.PGDumpVersion = "16.4", "16.4"
	s.Jobs = map[string]Job{"backup": {LastAttempt: "2026-02-16T22:00:00Z", LastSuccess: "2026-02-15T22:00:00Z", LastError: "pg_dump: connection refused", NextRun: "2026-02-17T22:00:00Z"}}
	s.BackupDirFreeBytes, s.LastDumpSize = &free, &size
	s.Doctor = []CheckResult{{Check: "database", Setting: "DATABASE_URL", Status: CheckPass, Detail: "connected"},
		{Check: "backup_dir", Setting: "BACKUP_DIR", Status: CheckFail, Detail: "full"}}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if got.Jobs["backup"] != s.Jobs["backup"] || *got.BackupDirFreeBytes != free || *got.LastDumpSize != size || len(got.DoctorFailing()) != 1 || got.PGDumpVersion != "16.4" {
		t.Errorf("round trip: %s", b)
	}
	if !got.UpdatedTime().Equal(time.Date(2026, 2, 16, 22, 5, 0, 0, time.UTC)) {
		t.Errorf("updated %v", got.UpdatedTime())
	}
}

func TestDetailsRefused(t *testing.T) {
	const head = `{"schema_version":1,"branch_id":"b1","updated_at":"2026-02-16T21:40:00Z","agent_version":"x","checks":"ok",`
	for name, tc := range map[string]struct{ doc, want string }{
		"job time":      {head + `"jobs":{"backup":{"last_success":"monday"}}}`, "jobs.backup.last_success"},
		"job two lines": {head + `"jobs":{"backup":{"last_error":"a\nb"}}}`, "more than one line"},
		"job long":      {head + `"jobs":{"backup":{"last_error":"` + strings.Repeat("x", MaxLineBytes+1) + `"}}}`, "longer than"},
		"free negative": {head + `"backup_dir_free_bytes":-1}`, "backup_dir_free_bytes -1"},
		"check status":  {head + `"doctor":[{"check":"database","setting":"DATABASE_URL","status":"meh","detail":""}]}`, `doctor[0].status "meh"`},
		"check no name": {head + `"doctor":[{"check":"","setting":"x","status":"pass","detail":""}]}`, "doctor[0].check is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v, want ErrMalformed naming %q", err, tc.want)
			}
		})
	}
}
