package components

import (
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/web/view"
)

func proofFixture() view.BranchPage {
	p := branchFixture()
	p.Drill = view.Check{State: view.StateDown, Detail: "the restore drill of 2026-02-15 failed: public.bills: restored 599 rows, the manifest says 600"}
	p.Drills = []view.Drill{
		{Date: time.Date(2026, 2, 15, 3, 0, 0, 0, ist), BackupName: "branch-andheri_20260214_220005.dump", Duration: 8421 * time.Millisecond,
			Tables: 6, Rows: 1199, OK: false, Error: "public.bills: restored 599 rows, the manifest says 600"},
		{Date: time.Date(2026, 2, 8, 3, 0, 0, 0, ist), BackupName: "branch-andheri_20260207_220005.dump", Duration: 7 * time.Second,
			Tables: 6, Rows: 1100, OK: true, FiguresChanged: true, ChangedDate: "2026-02-06"},
	}
	p.Backups[0].Manifest = &view.BackupManifest{Tables: 6, Rows: 2503}
	p.AgentCheck = view.Check{State: view.StateDown, Detail: "BACKUP_DIR has 5.9 KiB free, less than twice the last dump (4.0 KiB)"}
	p.Agent = &view.AgentPanel{Updated: time.Date(2026, 2, 17, 11, 0, 0, 0, ist), Version: "1.4.0", ServerVersion: "16.4", PGDumpVersion: "16.6",
		FreeBytes: 6000, LastDumpSize: 4096,
		Jobs: []view.AgentJob{{Name: "backup", LastSuccess: time.Date(2026, 2, 16, 22, 0, 9, 0, ist), NextRun: time.Date(2026, 2, 17, 22, 0, 0, 0, ist)},
			{Name: "summary", LastError: "connect: connection refused"}},
		Checks: []view.DoctorCheck{{Check: "database", Setting: "DATABASE_URL", Status: "pass", Detail: "connected"},
			{Check: "backup_dir", Setting: "BACKUP_DIR", Status: "fail", Detail: "/backups has 5.9 KiB free"}},
	}
	return p
}

func TestBranchDrillHistory(t *testing.T) {
	d, _ := render(t, Branch(proofFixture()))
	if got := text(byTestID(d.Selection, "drill-state")); !strings.Contains(got, "Down") || !strings.Contains(got, "restored 599 rows") {
		t.Errorf("drill state %q", got)
	}
	rows := byTestID(d.Selection, "drill-row")
	if rows.Length() != 2 {
		t.Fatalf("%d drill rows, want 2", rows.Length())
	}
	failed := rows.First()
	if v, _ := failed.Attr("data-ok"); v != "false" {
		t.Errorf("first drill data-ok %q", v)
	}
	for id, want := range map[string]string{"drill-backup": "branch-andheri_20260214_220005.dump", "drill-duration": "8.421s",
		"drill-tables": "6", "drill-rows": "1,199", "drill-error": "public.bills: restored 599 rows, the manifest says 600"} {
		if got := text(byTestID(failed, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if !strings.Contains(text(byTestID(failed, "drill-result")), "Failed") || byTestID(failed, "drill-figures-changed").Length() != 0 {
		t.Errorf("failed drill result %q", text(byTestID(failed, "drill-result")))
	}
	passed := rows.Eq(1)
	if got := text(byTestID(passed, "drill-figures-changed")); got != "figures changed after they were reported (2026-02-06)" {
		t.Errorf("figures changed note %q", got)
	}
	if got := text(byTestID(d.Selection, "backup-rows").First()); !strings.HasPrefix(got, "2,503") {
		t.Errorf("backup rows %q", got)
	}
	if got := text(byTestID(d.Selection, "backup-rows").Eq(1)); got != "—" {
		t.Errorf("backup without manifest rows %q", got)
	}
}

func TestBranchAgentStatus(t *testing.T) {
	d, _ := render(t, Branch(proofFixture()))
	for id, want := range map[string]string{"agent-version": "1.4.0", "agent-pg": "16.4 / 16.6", "agent-disk-free": "5.9 KiB", "agent-last-dump": "4.0 KiB"} {
		if got := text(byTestID(d.Selection, id)); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if got := text(byTestID(d.Selection, "agent-check")); !strings.Contains(got, "less than twice the last dump") {
		t.Errorf("agent check %q", got)
	}
	summary := d.Find(`[data-testid="agent-job"][data-job="summary"]`)
	if text(byTestID(summary, "job-last-error")) != "connect: connection refused" || text(byTestID(summary, "job-last-success")) != "never" {
		t.Errorf("summary job %q", text(summary))
	}
	failing := d.Find(`[data-testid="doctor-check"][data-status="fail"]`)
	if failing.Length() != 1 || !strings.Contains(text(failing), "BACKUP_DIR: /backups has 5.9 KiB free") {
		t.Errorf("failing doctor checks %q", text(failing))
	}

	p := proofFixture()
	p.Agent, p.Drills = nil, nil
	p.AgentCheck = view.Check{State: view.StateUnknown, Detail: "no agent status document"}
	d, _ = render(t, Branch(p))
	if text(byTestID(d.Selection, "no-agent-status")) != "no agent status document" || byTestID(d.Selection, "no-drills").Length() != 1 {
		t.Error("a branch without status or drills does not say so")
	}
}

func TestOverviewDrillColumn(t *testing.T) {
	p := overviewFixture()
	p.Branches[0].Drill = view.Check{State: view.StateDown, Detail: "the restore drill of 2026-02-15 failed: checksum mismatch"}
	d, _ := render(t, Overview(p))
	cell := byTestID(d.Selection, "drill-state").First()
	if got := text(cell); !strings.Contains(got, "Down") || !strings.Contains(got, "checksum mismatch") {
		t.Errorf("drill cell %q", got)
	}
	if n := byTestID(d.Selection, "drill-state").Length(); n != len(p.Branches) {
		t.Errorf("%d drill cells for %d rows", n, len(p.Branches))
	}
}

func TestDeployments(t *testing.T) {
	d, _ := render(t, Deployments(view.DeploymentsPage{Now: now, Deployments: []view.Deployment{
		{Version: "", Branches: []view.DeploymentBranch{{ID: "b3", Name: "Powai"}}},
		{Version: "1.4.0", Branches: []view.DeploymentBranch{{ID: "b1", Name: "Andheri"}, {ID: "b2", Name: "Bandra"}}},
	}}))
	rows := byTestID(d.Selection, "deployment")
	if rows.Length() != 2 {
		t.Fatalf("%d deployments", rows.Length())
	}
	v := rows.Eq(1)
	if text(byTestID(v, "deployment-version")) != "1.4.0" || text(byTestID(v, "deployment-count")) != "2" || text(byTestID(v, "deployment-branch").Eq(1)) != "Bandra" {
		t.Errorf("deployment row %q", text(v))
	}
	if href, _ := byTestID(v, "deployment-branch").First().Attr("href"); href != "/branches/b1" {
		t.Errorf("branch link %q", href)
	}
	if got := text(byTestID(rows.First(), "deployment-version")); got != "no status document" {
		t.Errorf("unknown version %q", got)
	}
}
