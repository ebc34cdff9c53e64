package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/store"
)

func rows(n int64) *int64 { return &n }

// putDrill writes a drill record of branch started at `at` (IST).
func putDrill(t *testing.T, st store.Store, branch string, at time.Time, ok bool, errText string, changed bool) {
	t.Helper()
	r := drill.Record{SchemaVersion: drill.SchemaVersion, BranchID: branch, DrilledAt: at.Format(time.RFC3339),
		BackupKey:    fixture.BackupKey(branch, time.Date(2026, 2, 16, 22, 0, 5, 0, time.UTC)),
		BackupSHA256: strings.Repeat("ab", 32), OK: ok, DurationMS: 8421, Error: errText,
		Tables: map[string]drill.Table{"public.bills": {Expected: rows(600), Restored: rows(600)}, "public.payments": {Expected: rows(566), Restored: rows(566)}}}
	if !ok {
		r.Tables["public.bills"] = drill.Table{Expected: rows(600), Restored: rows(599)}
	}
	if changed {
		r.MetricsCheck = &drill.MetricsCheck{Date: "2026-02-15", MatchesManifest: true, MatchesPushed: false, Differences: []string{"net_revenue: pushed 100, restored 90"}}
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := layout.DrillKey(branch, at)
	fixture.Put(t, st, key, b, nil)
}

func putStatus(t *testing.T, st store.Store, branch string, at time.Time, free, dump int64, failing bool) {
	t.Helper()
	s := agentstatus.New(branch, "1.4.0", at, nil)
	s.BackupDirFreeBytes, s.LastDumpSize = &free, &dump
	s.Jobs = map[string]agentstatus.Job{"backup": {LastSuccess: at.Format(time.RFC3339), LastAttempt: at.Format(time.RFC3339)}}
	s.Doctor = []agentstatus.CheckResult{{Check: "database", Setting: "DATABASE_URL", Status: agentstatus.CheckPass, Detail: "connected"}}
	if failing {
		s.Doctor = append(s.Doctor, agentstatus.CheckResult{Check: "pg_dump", Setting: "PG_DUMP_PATH", Status: agentstatus.CheckFail, Detail: "pg_dump 14 is older than the server's 16"})
		s.Checks, s.Failing = agentstatus.ChecksFailing, []string{"PG_DUMP_PATH: pg_dump 14 is older than the server's 16"}
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := layout.AgentStatusKey(branch)
	fixture.Put(t, st, key, b, nil)
}

func putManifest(t *testing.T, st store.Store, dumpKey string) {
	t.Helper()
	branch, _, _ := strings.Cut(dumpKey, "/")
	m := manifest.Manifest{SchemaVersion: manifest.SchemaVersion, BranchID: branch, DumpKey: dumpKey,
		SHA256: strings.Repeat("cd", 32), Size: 4096, PlainSHA256: strings.Repeat("cd", 32), PlainSize: 4096,
		ServerVersion: "16.4", PGDumpVersion: "16.4", AgentVersion: "1.4.0",
		StartedAt: "2026-02-16T22:00:05+05:30", FinishedAt: "2026-02-16T22:00:09+05:30",
		Tables: map[string]int64{"public.bills": 600, "public.payments": 566}, DayError: "no final day before the dump"}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := layout.ManifestKey(dumpKey)
	fixture.Put(t, st, key, b, nil)
}

func problem(current []string, check, branch string) string {
	for _, p := range current {
		if strings.HasPrefix(p, branch+" "+check+" ") {
			return p
		}
	}
	return ""
}

// TestProofChecks: drill records, a manifest and agent status documents
// in a real S3 bucket. A passed drill is up, a failed one down with its
// error, an old one down; the agent check goes down for a full disk, a
// failing doctor check, and a silent agent whose metrics are late too;
// bad documents are listed with their reasons and the sync carries on.
func TestProofChecks(t *testing.T) {
	s := startS3(t)
	st := s.st
	sunday := time.Date(2026, 2, 15, 3, 0, 0, 0, fixture.IST)
	putDrill(t, st, "andheri", sunday, true, "", true)
	putManifest(t, st, fixture.BackupKey("andheri", time.Date(2026, 2, 16, 22, 0, 5, 0, time.UTC)))
	putStatus(t, st, "andheri", now.Add(-time.Hour), 50<<30, 4096, false)
	putDrill(t, st, "bandra", sunday.AddDate(0, 0, -7), true, "", false)
	putDrill(t, st, "bandra", sunday, false, "public.bills: restored 599 rows, the manifest says 600", false)
	putStatus(t, st, "bandra", now.Add(-time.Hour), 6000, 4096, true)
	putDrill(t, st, "powai", sunday.AddDate(0, 0, -14), true, "", false)
	fixture.Put(t, st, "powai/drills/2026-02-16.json", []byte(`{"schema_version":1,`), nil)
	fixture.Put(t, st, "powai/agent/status.json", []byte(`{"schema_version":1,"branch_id":"andheri","updated_at":"2026-02-17T10:00:00+05:30","agent_version":"1","checks":"ok"}`), nil)
	// worli: metrics stopped on the 12th, the agent's last word on the 13th.
	for d := range 5 {
		fixture.PutDoc(t, st, fixture.Doc("worli", fixture.Date("2026-02-08", d), int64(d)))
	}
	putStatus(t, st, "worli", time.Date(2026, 2, 13, 22, 0, 0, 0, fixture.IST), 50<<30, 4096, false)

	dir := t.TempDir()
	if err := newService(t, st, dir).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A restart serves the drills, manifests and statuses from the snapshot.
	svc := newService(t, st, dir, func(o *service.Options) {
		o.Policy.Drill = freshness.DrillSchedule{Period: 7 * 24 * time.Hour, Grace: 24 * time.Hour}
	})
	byID := map[string]service.BranchStatus{}
	for _, b := range svc.Branches() {
		byID[b.ID] = b
	}
	for _, tc := range []struct {
		branch, check string
		c             freshness.Check
		state         freshness.State
		reason        string
	}{
		{"andheri", "drill", byID["andheri"].Drill, freshness.Up, "the restore drill of 2026-02-15 passed (2 tables, 1166 rows)"},
		{"bandra", "drill", byID["bandra"].Drill, freshness.Down, "the restore drill of 2026-02-15 failed: public.bills: restored 599 rows, the manifest says 600"},
		{"powai", "drill", byID["powai"].Drill, freshness.Down, "no restore drill since 2026-02-01, twice the period of 168h0m0s"},
		{"worli", "drill", byID["worli"].Drill, freshness.Never, "no restore drill record"},
		{"andheri", "agent", byID["andheri"].Agent, freshness.Up, "agent 1.4.0 reported"},
		{"bandra", "agent", byID["bandra"].Agent, freshness.Down, "BACKUP_DIR has 5.9 KiB free, less than twice the last dump (4.0 KiB); check pg_dump fails: PG_DUMP_PATH: pg_dump 14 is older than the server's 16"},
		{"powai", "agent", byID["powai"].Agent, freshness.Unknown, "no agent status document"},
		{"worli", "agent", byID["worli"].Agent, freshness.Down, "no agent status since 2026-02-13 22:00 +05:30 while the metrics are down: the agent seems gone"},
	} {
		if tc.c.State != tc.state || !strings.Contains(tc.c.Reason, tc.reason) {
			t.Errorf("%s %s: %s %q, want %s %q", tc.branch, tc.check, tc.c.State, tc.c.Reason, tc.state, tc.reason)
		}
	}

	current, _ := svc.Alerts()
	var lines []string
	for _, p := range current {
		lines = append(lines, p.Branch+" "+p.Check+" "+string(p.State))
	}
	for _, want := range []string{"bandra drill down", "powai drill down", "bandra agent down", "worli agent down"} {
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Errorf("alerts %q lack %q", lines, want)
		}
	}
	// Up, no status document, no drill ever: no alert.
	if problem(lines, "agent", "powai") != "" || problem(lines, "drill", "andheri") != "" || problem(lines, "drill", "worli") != "" {
		t.Errorf("alerts on a good or unknown check: %q", lines)
	}

	d, _ := svc.Branch("powai")
	var reasons []string
	for _, b := range d.Bad {
		reasons = append(reasons, b.Key+": "+b.Reason)
	}
	all := strings.Join(reasons, "\n")
	if !strings.Contains(all, "powai/drills/2026-02-16.json: malformed drill record") ||
		!strings.Contains(all, `powai/agent/status.json: malformed agent status: branch_id "andheri" is not the branch "powai"`) {
		t.Errorf("bad documents:\n%s", all)
	}

	a, _ := svc.Branch("andheri")
	if len(a.Drills) != 1 || !a.Drills[0].OK || !a.Drills[0].FiguresChanged || a.Drills[0].Rows != 1166 || a.Drills[0].Tables != 2 {
		t.Errorf("andheri drills %+v", a.Drills)
	}
	if m := a.BackupList[0].Manifest; m == nil || m.Rows != 1166 || m.Tables["public.bills"] != 600 || a.BackupList[0].SHA256 == "" {
		t.Errorf("andheri backup manifest %+v", a.BackupList[0])
	}
	if a.AgentStatus == nil || a.AgentStatus.AgentVersion != "1.4.0" || len(a.AgentStatus.Jobs) != 1 || *a.AgentStatus.BackupDirFreeBytes != 50<<30 {
		t.Errorf("andheri agent %+v", a.AgentStatus)
	}
	dep := service.DeploymentsOf(svc.Branches())
	if len(dep) != 2 || dep[0].AgentVersion != "" || strings.Join(dep[1].Branches, ",") != "andheri,bandra,worli" {
		t.Errorf("deployments %+v", dep)
	}

	// A new drill passing on bandra turns its check up on an incremental refresh.
	putDrill(t, st, "bandra", sunday.AddDate(0, 0, 1), true, "", false)
	if err := svc.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, b := range svc.Branches() {
		if b.ID == "bandra" && b.Drill.State != freshness.Up {
			t.Errorf("bandra after a passing drill: %s %q", b.Drill.State, b.Drill.Reason)
		}
	}
}

// TestFailedDrillsAlert: each way a drill fails (the agent's own error
// texts) turns the check down with that error and raises one alert; a
// passing drill afterwards brings it back up with a recovery alert.
func TestFailedDrillsAlert(t *testing.T) {
	s := startS3(t)
	n, err := alert.New(alert.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, s.st, "", func(o *service.Options) { o.Notifier = n })
	putDrill(t, s.st, "bandra", time.Date(2026, 2, 8, 3, 0, 0, 0, fixture.IST), true, "", false)
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, reason := range []string{
		"download bandra/backups/bandra_20260216_220005.dump: checksum mismatch: got 4096 bytes with sha256 00ff, the metadata says 4096 bytes with sha256 abcd: not restoring",
		"public.bills: restored 599 rows, the manifest says 600",
		`scratch database: role "bw" lacks CREATEDB: set VERIFY_DATABASE_URL or grant CREATEDB`,
		"decrypt bandra_20260216_220005.dump.age: no identity matched any of the recipients",
	} {
		at := time.Date(2026, 2, 9+i, 3, 0, 0, 0, fixture.IST)
		putDrill(t, s.st, "bandra", at, false, reason, false)
		if err := svc.RefreshIncremental(context.Background()); err != nil {
			t.Fatal(err)
		}
		d, _ := svc.Branch("bandra")
		if d.Drill.State != freshness.Down || !strings.HasSuffix(d.Drill.Reason, "failed: "+reason) {
			t.Errorf("drill %d: %s %q", i, d.Drill.State, d.Drill.Reason)
		}
		if len(d.Drills) != i+2 || d.Drills[0].OK || d.Drills[0].Error != reason {
			t.Errorf("drill %d: history %+v", i, d.Drills)
		}
	}
	putDrill(t, s.st, "bandra", time.Date(2026, 2, 15, 3, 0, 0, 0, fixture.IST), true, "", false)
	if err := svc.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range n.History() {
		if r.Check == freshness.CheckDrill {
			kinds = append(kinds, r.Branch+" "+string(r.Kind))
		}
	}
	// Newest first: the recovery, then the one alert when it went down.
	if strings.Join(kinds, ",") != "bandra recovered,bandra down" {
		t.Errorf("drill alerts %q, want one down and one recovery for bandra", kinds)
	}
}
