package syncer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

func putDrillRecord(t *testing.T, st store.Store, branch string, day int, ok bool) string {
	t.Helper()
	at := time.Date(2026, 2, day, 3, 0, 0, 0, fixture.IST)
	r := drill.Record{SchemaVersion: 1, BranchID: branch, DrilledAt: at.Format(time.RFC3339), OK: ok, DurationMS: 10,
		BackupKey: fixture.BackupKey(branch, time.Date(2026, 2, day-1, 22, 0, 0, 0, time.UTC)), BackupSHA256: strings.Repeat("0f", 32)}
	if !ok {
		r.Error = "checksum mismatch"
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := layout.DrillKey(branch, at)
	fixture.Put(t, st, key, b, nil)
	return key
}

// TestProofDocuments: drill records, manifests and the agent status are
// read and validated (bad ones listed with the reason, the sync goes on);
// an incremental refresh still lists two sections per branch and
// downloads only what changed; the status is re-read by full syncs.
func TestProofDocuments(t *testing.T) {
	st, c := startS3(t)
	for _, id := range []string{"andheri", "bandra"} {
		fixture.PutDoc(t, st, fixture.Doc(id, "2026-02-01", 1))
		fixture.PutBackup(t, st, id, time.Date(2026, 2, 1, 22, 0, 0, 0, time.UTC), 50)
		putDrillRecord(t, st, id, 1, true)
	}
	fixture.Put(t, st, "andheri/drills/2026-02-02.json", []byte(`{"schema_version":1}`), nil)
	fixture.Put(t, st, "andheri/drills/notes.txt", []byte(`x`), nil)
	statusKey, _ := layout.AgentStatusKey("andheri")
	put := func(version string) {
		b, _ := agentstatus.New("andheri", version, time.Date(2026, 2, 2, 9, 0, 0, 0, fixture.IST), nil).Marshal()
		fixture.Put(t, st, statusKey, b, nil)
	}
	put("1.0.0")
	s := newSyncer(st)
	x, stats := sync(t, s, nil, true)
	a := branch(t, x, "andheri")
	if a.Proof == nil || len(a.Proof.Drills) != 1 || a.Proof.Agent == nil || a.Proof.Agent.AgentVersion != "1.0.0" || a.Ignored != 0 {
		t.Fatalf("andheri proof %+v, %d ignored", a.Proof, a.Ignored)
	}
	var reasons []string
	for _, b := range a.Proof.Bad {
		reasons = append(reasons, b.Key+": "+b.Reason)
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "2026-02-02.json: malformed drill record") || !strings.Contains(reasons[1], "notes.txt: not a drill record name") {
		t.Errorf("bad proof documents %q", reasons)
	}
	if stats.NewBad != 2 {
		t.Errorf("new bad %d, want 2", stats.NewBad)
	}

	c.reset()
	y, stats := sync(t, s, x, false)
	if got := c.lists.Load(); got != 4 || c.gets.Load() != 0 || stats.Changed {
		t.Errorf("refresh with nothing new: %d listings (want 4), %d GETs, changed %v", got, c.gets.Load(), stats.Changed)
	}
	if branch(t, y, "bandra") != branch(t, x, "bandra") {
		t.Error("an unchanged branch was rebuilt")
	}

	putDrillRecord(t, st, "bandra", 8, false)
	put("1.1.0")
	c.reset()
	z, _ := sync(t, s, y, false)
	if got := c.lists.Load(); got != 4 || c.gets.Load() != 1 {
		t.Errorf("refresh with one new drill: %d listings, %d GETs; want 4 and 1", got, c.gets.Load())
	}
	if d := branch(t, z, "bandra").Proof.LatestDrill(); d == nil || d.OK || d.Error != "checksum mismatch" {
		t.Errorf("bandra's newest drill %+v", d)
	}
	if v := branch(t, z, "andheri").Proof.Agent.AgentVersion; v != "1.0.0" {
		t.Errorf("an incremental sync read the status (%s)", v)
	}
	w, _ := sync(t, s, z, true)
	if v := branch(t, w, "andheri").Proof.Agent.AgentVersion; v != "1.1.0" {
		t.Errorf("the full sync did not re-read the status: %s", v)
	}
	if len(branch(t, w, "bandra").Proof.Drills) != 2 {
		t.Errorf("bandra drills after the full sync: %+v", branch(t, w, "bandra").Proof.Drills)
	}
}
