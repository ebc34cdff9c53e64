package freshness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
)

func drillBranch(at time.Time, ok bool) *index.Branch {
	r := drill.Record{DrilledAt: at.Format(time.RFC3339), OK: ok}
	if !ok {
		r.Error = "sha256 of the downloaded object does not match the manifest"
	}
	return &index.Branch{ID: "andheri", Proof: &index.Proof{Drills: []index.Drill{{Record: r}}}}
}

// TestDrillCheck: drills on Sunday 03:00, a period of 7 days and a day's
// grace: up until Monday 03:00 a week later, late until two weeks, then
// down; a failed drill is down at once with its error.
func TestDrillCheck(t *testing.T) {
	p := freshness.Policy{Drill: freshness.DrillSchedule{Period: 7 * 24 * time.Hour, Grace: 24 * time.Hour}}
	sunday := ist(1, 3, 0)
	for _, tc := range []struct {
		name   string
		b      *index.Branch
		now    time.Time
		state  freshness.State
		reason string
	}{
		{"none", &index.Branch{ID: "andheri"}, ist(20, 0, 0), freshness.Never, "no restore drill record"},
		{"fresh", drillBranch(sunday, true), ist(8, 2, 59), freshness.Up, "the restore drill of 2026-02-01 passed"},
		{"in grace", drillBranch(sunday, true), ist(9, 2, 59), freshness.Up, "next due 2026-02-08 03:00 +05:30"},
		{"late", drillBranch(sunday, true), ist(9, 3, 0), freshness.Late, "no restore drill since 2026-02-01"},
		{"still late", drillBranch(sunday, true), ist(15, 2, 59), freshness.Late, "grace 24h0m0s"},
		{"down", drillBranch(sunday, true), ist(15, 3, 0), freshness.Down, "twice the period"},
		{"failed", drillBranch(sunday, false), ist(1, 4, 0), freshness.Down, "failed: sha256 of the downloaded object does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.DrillCheck(tc.b, fixture.IST, tc.now)
			if c.State != tc.state || !strings.Contains(c.Reason, tc.reason) || c.Name != freshness.CheckDrill {
				t.Errorf("%s %q, want %s %q", c.State, c.Reason, tc.state, tc.reason)
			}
		})
	}
	// The defaults: 7 days and 1 day.
	if c := (freshness.Policy{}).DrillCheck(drillBranch(sunday, true), fixture.IST, ist(9, 2, 0)); c.State != freshness.Up {
		t.Errorf("default policy after 7d23h: %s", c.State)
	}
}

func TestAgentCheck(t *testing.T) {
	now := ist(17, 12, 0)
	status := func(updated time.Time, free, dump int64, failing bool) *index.Branch {
		s := agentstatus.New("andheri", "1.4.0", updated, nil)
		s.BackupDirFreeBytes, s.LastDumpSize = &free, &dump
		if failing {
			s.Doctor = []agentstatus.CheckResult{{Check: "database", Setting: "DATABASE_URL", Status: agentstatus.CheckFail, Detail: "password authentication failed"}}
		}
		return &index.Branch{ID: "andheri", Proof: &index.Proof{Agent: &index.AgentStatus{Status: s}}}
	}
	up := freshness.Check{State: freshness.Up}
	late := freshness.Check{State: freshness.Late}
	for _, tc := range []struct {
		name    string
		b       *index.Branch
		metrics freshness.Check
		state   freshness.State
		reason  string
	}{
		{"no document", &index.Branch{ID: "andheri"}, up, freshness.Unknown, "no agent status document"},
		{"healthy", status(now.Add(-time.Hour), 10<<30, 1<<30, false), up, freshness.Up, "agent 1.4.0 reported"},
		{"exactly twice", status(now.Add(-time.Hour), 2<<30, 1<<30, false), up, freshness.Up, ""},
		{"disk", status(now.Add(-time.Hour), 2<<30-1, 1<<30, false), up, freshness.Down, "less than twice the last dump"},
		{"doctor", status(now.Add(-time.Hour), 10<<30, 1<<30, true), up, freshness.Down, "check database fails: DATABASE_URL: password authentication failed"},
		{"old, metrics fine", status(now.Add(-72*time.Hour), 10<<30, 1<<30, false), up, freshness.Up, ""},
		{"old, metrics late", status(now.Add(-72*time.Hour), 10<<30, 1<<30, false), late, freshness.Down, "the agent seems gone"},
		{"recent, metrics late", status(now.Add(-47*time.Hour), 10<<30, 1<<30, false), late, freshness.Up, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := freshness.AgentCheck(tc.b, tc.metrics, fixture.IST, now)
			if c.State != tc.state || !strings.Contains(c.Reason, tc.reason) {
				t.Errorf("%s %q, want %s %q", c.State, c.Reason, tc.state, tc.reason)
			}
		})
	}
}
