package statusreport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/simclock"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func read(t *testing.T, st store.Store) agentstatus.Status {
	t.Helper()
	key, _ := layout.AgentStatusKey("b1")
	rc, _, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	s, err := agentstatus.Decode(rc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReporter drives the reporter on a fake clock against a real S3
// server: the first change is written at once, later ones at most once a
// minute, each carrying the latest state, the password redacted.
func TestReporter(t *testing.T) {
	st := testenv.StartS3(t).Store(t)
	ist := time.FixedZone("IST", 19800)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 16, 30, 0, 0, time.UTC))
	next := clock.Now().Add(24 * time.Hour)
	writes := make(chan struct{}, 10)
	r := New(t.Context(), Config{
		BranchID: "b1", AgentVersion: "1.4.0", Instance: "pos-1/0123456789abcdef", Store: st, Clock: clock, Location: ist,
		NextRun:   func(job string) (time.Time, error) { return next, nil },
		FreeBytes: func() (uint64, error) { return 9 << 30, nil },
		Redact:    func(s string) string { return strings.ReplaceAll(s, "hunter2", "xxxxx") },
		OnWrite: func(err error) {
			if err != nil {
				t.Errorf("write: %v", err)
			}
			writes <- struct{}{}
		},
	})
	r.SetVersions("16.4", "16.6")
	r.JobDone("backup", clock.Now().Add(-time.Minute), 4<<20, nil)
	<-writes
	s := read(t, st)
	if j := s.Jobs["backup"]; j.LastSuccess != "2026-02-16T22:00:00+05:30" || j.LastError != "" || j.NextRun != "2026-02-17T22:00:00+05:30" {
		t.Errorf("backup job %+v", j)
	}
	if s.ServerVersion != "16.4" || s.PGDumpVersion != "16.6" || *s.LastDumpSize != 4<<20 || *s.BackupDirFreeBytes != 9<<30 ||
		s.Instance != "pos-1/0123456789abcdef" {
		t.Errorf("status %+v", s)
	}

	// Inside the minute: nothing written until the minute is up.
	clock.Advance(10 * time.Second)
	r.JobDone("summary", clock.Now(), 0, errors.New("connect postgres://bw:hunter2@db/x: refused\nsecond line"))
	r.Checked([]agentstatus.CheckResult{{Check: "backup_dir", Setting: "BACKUP_DIR", Status: agentstatus.CheckFail, Detail: "/backups is full"}})
	if _, ok := read(t, st).Jobs["summary"]; ok {
		t.Fatal("written twice within a minute")
	}
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 0 {
		t.Fatal("written twice within a minute")
	}
	clock.Advance(50 * time.Second)
	<-writes // the delayed write, with the state of then
	s = read(t, st)
	j := s.Jobs["summary"]
	if j.LastError != "connect postgres://bw:xxxxx@db/x: refused ..." || j.LastSuccess != "" {
		t.Errorf("summary job %+v", j)
	}
	if s.Checks != agentstatus.ChecksFailing || len(s.DoctorFailing()) != 1 || s.Failing[0] != "BACKUP_DIR: /backups is full" {
		t.Errorf("checks %q %+v %q", s.Checks, s.Doctor, s.Failing)
	}
	if s.Jobs["backup"].LastSuccess == "" {
		t.Error("the backup's record was lost")
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                  "plain",
		" a\nb ":                 "a ...",
		"x\r\ny":                 "x ...",
		strings.Repeat("é", 600): strings.Repeat("é", 498) + " ...",
	} {
		if got := OneLine(in); got != want || len(got) > agentstatus.MaxLineBytes {
			t.Errorf("OneLine(%.20q) = %.20q (%d bytes), want %.20q", in, got, len(got), want)
		}
	}
}

// TestReporterCloseSendsTheLastState: a write the rate limit holds back
// is sent by Close; nothing is written after it.
func TestReporterCloseSendsTheLastState(t *testing.T) {
	st := testenv.StartS3(t).Store(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 16, 30, 0, 0, time.UTC))
	var n int
	r := New(t.Context(), Config{BranchID: "b1", AgentVersion: "1.4.0", Store: st, Clock: clock, OnWrite: func(error) { n++ }})
	r.JobDone("backup", clock.Now(), 10, nil)
	r.JobDone("summary", clock.Now(), 0, nil)
	if n != 1 {
		t.Fatalf("%d writes, want 1 (the second held back)", n)
	}
	r.Close()
	if _, ok := read(t, st).Jobs["summary"]; !ok || n != 2 {
		t.Errorf("close: %d writes, summary written %v", n, ok)
	}
	clock.Advance(time.Hour)
	r.JobDone("cleanup", clock.Now(), 0, nil)
	if n != 2 {
		t.Errorf("written after Close")
	}
}

// TestRateLimitOnTheDaemonClock: the rate limit is timed by the clock the
// reporter is given, as the daemon gives it its simulated clock
// (BRANCHWATCH_CLOCK_RATE): at 3600 simulated seconds a real second, a
// change held back by the limit is written one simulated minute after the
// write before it, some 17 ms of real time, not a real minute later.
func TestRateLimitOnTheDaemonClock(t *testing.T) {
	st := testenv.StartS3(t).Store(t)
	clock := simclock.New(time.Date(2026, 2, 16, 16, 30, 0, 0, time.UTC), 3600)
	writes := make(chan error, 10)
	r := New(t.Context(), Config{BranchID: "b1", AgentVersion: "1.4.0", Store: st, Clock: clock, OnWrite: func(err error) { writes <- err }})
	r.JobDone("backup", clock.Now(), 10, nil)
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	first := read(t, st).UpdatedTime()
	r.JobDone("summary", clock.Now(), 0, nil)
	began := time.Now()
	select {
	case err := <-writes:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // half the real minute a real-time limit would wait
		t.Fatal("the held-back write did not come within 30 real seconds: the limit is not on the given clock")
	}
	s := read(t, st)
	if _, ok := s.Jobs["summary"]; !ok {
		t.Fatalf("the delayed write lacks the summary job: %+v", s.Jobs)
	}
	if gap := s.UpdatedTime().Sub(first); gap < MinInterval {
		t.Errorf("the second write came %s of simulated time after the first, under the %s limit", gap, MinInterval)
	}
	t.Logf("second write after %s real, %s simulated", time.Since(began).Round(time.Millisecond), s.UpdatedTime().Sub(first))
}

// TestProbeCarriesThisRoundOnly: the bucket check's probe, written while a
// round runs, never lists the last round's failing check beside "checks
// ok" (the aggregator would show the agent down until the next write).
func TestProbeCarriesThisRoundOnly(t *testing.T) {
	st := testenv.StartS3(t).Store(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 16, 30, 0, 0, time.UTC))
	r := New(t.Context(), Config{BranchID: "b1", AgentVersion: "1.4.0", Store: st, Clock: clock, Location: time.UTC})
	r.Checked([]agentstatus.CheckResult{
		{Check: "database", Setting: "DATABASE_URL", Status: agentstatus.CheckFail, Detail: "password authentication failed"},
		{Check: "bucket", Setting: "BACKUP_S3_BUCKET", Status: agentstatus.CheckPass},
	})
	for _, tc := range []struct {
		name    string
		failing []string
		checks  string
	}{
		{"fixed", nil, agentstatus.ChecksOK},
		{"still failing", []string{"DATABASE_URL: password authentication failed"}, agentstatus.ChecksFailing},
	} {
		s := r.Probe(tc.failing)
		if s.Checks != tc.checks || len(s.Failing) != len(tc.failing) {
			t.Errorf("%s: checks %q failing %v", tc.name, s.Checks, s.Failing)
		}
		if len(s.DoctorFailing()) != 0 || len(s.Doctor) != 0 {
			t.Errorf("%s: the probe carries the last round's results: %+v", tc.name, s.Doctor)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: the probe is not a valid status document: %v", tc.name, err)
		}
	}
}
