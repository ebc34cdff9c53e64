package service_test

import (
	"context"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
)

// TestSeriesKeptAcrossSyncs: each branch's business series is read from
// the index once; a sync that changes nothing keeps every series and the
// version; a sync that brings one branch a new day reads that branch
// again, and only it.
func TestSeriesKeptAcrossSyncs(t *testing.T) {
	s := startS3(t)
	svc := newService(t, s.st, "")
	if all, _ := svc.Series(); len(all) != 0 {
		t.Fatalf("series before any sync: %v", all)
	}
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, v1 := svc.Series()
	if len(first) != 3 || len(first["bandra"].Days) != 20 || first["bandra"].Name != "Salon Bandra" {
		t.Fatalf("series %v", first)
	}
	if err := svc.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	same, _ := svc.Series()
	for id, b := range first {
		if same[id] != b {
			t.Errorf("a sync that changed nothing read %s again", id)
		}
	}
	fixture.PutDoc(t, s.st, fixture.Doc("powai", fixture.Date("2026-01-28", 20), 999))
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	next, v3 := svc.Series()
	if v3 == v1 {
		t.Error("the version did not change with the index")
	}
	if len(next["powai"].Days) != 21 || next["powai"] == first["powai"] {
		t.Errorf("powai's new day: %d days", len(next["powai"].Days))
	}
	for _, id := range []string{"andheri", "bandra"} {
		if next[id] != first[id] {
			t.Errorf("%s was read again though its documents did not change", id)
		}
	}
}
