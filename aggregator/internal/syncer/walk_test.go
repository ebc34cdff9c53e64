package syncer_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestSegmentedWalk: a bucket of 45 branches (listed in several key ranges
// side by side) with foreign prefixes between and around them, one of
// them over a page long: every object is listed exactly once, every
// branch gets all its documents, every foreign prefix is ignored.
func TestSegmentedWalk(t *testing.T) {
	backend := s3mem.New()
	srv := testenv.StartS3(t, testenv.WithBackend(backend))
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := backend.PutObject(srv.Bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatal(err)
		}
	}
	objects := 0
	for i := range 45 {
		id := fixture.BranchID(i)
		for d := range 1 + i%4 {
			date := fixture.Date("2026-02-01", d)
			put(fixture.MetricsKey(id, date), fixture.Encode(fixture.Doc(id, date, int64(i))))
			objects++
		}
		if i%9 == 0 { // a foreign prefix right after the branch: "branch-0009.old/"
			put(id+".old/x", []byte("x"))
			put(id+"_copy/x", []byte("x"))
			objects += 2
		}
	}
	for i := range 1200 {
		put(fmt.Sprintf("branch-0020x/%05d", i), []byte("x"))
		objects++
	}
	put("aaa/x", []byte("x"))
	put("zzz/x", []byte("x"))
	objects += 2

	x, stats := sync(t, newSyncer(srv.Store(t)), nil, true)
	for i := range 45 {
		if b := branch(t, x, fixture.BranchID(i)); b.Docs.Len() != 1+i%4 || len(b.Bad) != 0 {
			t.Errorf("%s: %d documents, bad %+v", b.ID, b.Docs.Len(), b.Bad)
		}
	}
	if len(x.Branches) != 45 {
		t.Errorf("%d branches, want 45", len(x.Branches))
	}
	// Every object under a prefix named like a branch (branch-0020x, aaa
	// and zzz are branch ids without a branch key) is listed once; those
	// under the 10 prefixes that are no branch id are skipped.
	if want := objects - 2*5; stats.Listed != want {
		t.Errorf("listed %d objects, want %d", stats.Listed, want)
	}
	if len(x.IgnoredPrefixes) != 2+5*2+1 {
		t.Errorf("ignored prefixes %v", x.IgnoredPrefixes)
	}
}
