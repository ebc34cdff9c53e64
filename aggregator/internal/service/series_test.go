package service_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
)

// TestSeriesKeptAcrossSyncs: each branch's business series is read from
// the index once; a sync that changes nothing keeps every series; a full
// sync an hour later (which lists every branch again and copies its
// documents) that brings one branch a new day reads that branch again,
// and only it.
func TestSeriesKeptAcrossSyncs(t *testing.T) {
	s := startS3(t)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	svc := newService(t, s.st, "", func(o *service.Options) { o.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	if all, _ := svc.Series(); len(all) != 0 {
		t.Fatalf("series before any sync: %v", all)
	}
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, v1 := svc.Series()
	if len(first) != 3 || first["bandra"].Days.Len() != 20 || first["bandra"].Name != "Salon Bandra" {
		t.Fatalf("series %v", first)
	}
	// The same days as the documents read in full give.
	want := business.FromDocuments(svc.EachMetric("bandra", time.Time{}, time.Time{}))[0]
	if got := first["bandra"]; got.Days.Len() != want.Days.Len() || got.Name != want.Name {
		t.Errorf("bandra's series: %d days named %q, want %d named %q", got.Days.Len(), got.Name, want.Days.Len(), want.Name)
	} else {
		for i := range want.Days.Len() {
			if g, w := got.Days.Day(i), want.Days.Day(i); !reflect.DeepEqual(g, w) || !got.Days.Date(i).Equal(w.Date) {
				t.Errorf("bandra's day %d\n got %+v\nwant %+v", i, g, w)
			}
		}
	}
	// The prefix sums (read through FinalNet) agree with the days'.
	all := business.Period{From: want.Days.Date(0), To: want.Days.Date(want.Days.Len() - 1)}
	gn, gc := first["bandra"].Sum(all)
	wn, wc := want.Sum(all)
	if gn != wn || gc != wc || gc != 20 || !first["bandra"].LatestFinal().Equal(want.LatestFinal()) {
		t.Errorf("bandra: %d over %d final days, latest %s; want %d over %d, %s", gn, gc, first["bandra"].LatestFinal(), wn, wc, want.LatestFinal())
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
	clock.Add(int64(time.Hour))
	before := svc.Index().Branches[0]
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if svc.Index().Branches[0] == before {
		t.Fatal("fixture: the full sync kept andheri's index entry; the test needs one it copied")
	}
	next, v3 := svc.Series()
	if v3 == v1 {
		t.Error("the version did not change with the index")
	}
	if next["powai"].Days.Len() != 21 || next["powai"] == first["powai"] {
		t.Errorf("powai's new day: %d days", next["powai"].Days.Len())
	}
	for _, id := range []string{"andheri", "bandra"} {
		if next[id] != first[id] {
			t.Errorf("%s was read again though its documents did not change", id)
		}
	}
}
