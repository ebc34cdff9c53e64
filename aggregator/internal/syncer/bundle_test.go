package syncer_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	gosync "sync"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// getLog records the keys of the object GETs (not listings) a server answered.
type getLog struct {
	mu   gosync.Mutex
	keys []string
}

func (l *getLog) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !r.URL.Query().Has("list-type") {
			_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			l.mu.Lock()
			l.keys = append(l.keys, key)
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (l *getLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.keys
	l.keys = nil
	return out
}

func startLoggedS3(t *testing.T) (store.Store, *getLog) {
	t.Helper()
	l := &getLog{}
	srv := testenv.StartS3(t, testenv.WithMiddleware(l.middleware))
	return srv.Store(t), l
}

const andheri = "andheri"

// seedMonths puts a document for every day of December and January and
// 1-16 February, a bad one (an invariant broken) on 5 January, and the
// bundles of December and January made of the daily objects' bytes.
// It returns the daily bodies by date.
func seedMonths(t *testing.T, st store.Store) map[string][]byte {
	t.Helper()
	bodies := map[string][]byte{}
	for i := range 31 + 31 + 16 {
		date := fixture.Date("2025-12-01", i)
		body := fixture.Encode(fixture.Doc(andheri, date, int64(i)))
		if date == "2026-01-05" {
			body = []byte(strings.Replace(string(body), `"net_profit": `, `"net_profit": 1`, 1))
		}
		fixture.Put(t, st, fixture.MetricsKey(andheri, date), body, nil)
		bodies[date] = body
	}
	for _, m := range []string{"2025-12", "2026-01"} {
		fixture.Put(t, st, fixture.MonthlyKey(andheri, m), fixture.EncodeBundle(andheri, m, inMonth(bodies, m)), nil)
	}
	return bodies
}

func inMonth(bodies map[string][]byte, month string) map[string][]byte {
	out := map[string][]byte{}
	for d, b := range bodies {
		if strings.HasPrefix(d, month+"-") {
			out[d] = b
		}
	}
	return out
}

// sameBranch compares what readers see of two syncs of one branch.
func sameBranch(t *testing.T, got, want *index.Branch) {
	t.Helper()
	gotDocs, wantDocs := got.DocRange("", ""), want.DocRange("", "")
	if !reflect.DeepEqual(gotDocs, wantDocs) {
		t.Errorf("documents differ: %d vs %d", len(gotDocs), len(wantDocs))
		for i := range min(len(gotDocs), len(wantDocs)) {
			if !reflect.DeepEqual(gotDocs[i], wantDocs[i]) {
				t.Errorf("first difference: %+v\nvs %+v", gotDocs[i], wantDocs[i])
				break
			}
		}
	}
	if !reflect.DeepEqual(got.Bad, want.Bad) {
		t.Errorf("bad documents differ:\n%+v\nvs\n%+v", got.Bad, want.Bad)
	}
}

func countPrefix(keys []string, prefix string) int {
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// TestColdSyncWithBundlesEqualsWithout: a cold sync reading December's
// and January's bundles (and February's 16 documents alone) builds the
// same index as one reading all 78 documents alone, the bad document of
// 5 January included, with 18 GETs instead of 78.
func TestColdSyncWithBundlesEqualsWithout(t *testing.T) {
	st, gets := startLoggedS3(t)
	seedMonths(t, st)

	with, stats := sync(t, newSyncer(st), nil, true)
	keys := gets.take()
	if stats.Bundles != 2 || stats.FromBundle != 62 || stats.Downloaded != 16 || len(keys) != 18 {
		t.Errorf("with bundles: %d bundles, %d documents from them, %d alone, %d GETs; want 2, 62, 16, 18", stats.Bundles, stats.FromBundle, stats.Downloaded, len(keys))
	}
	if n := countPrefix(keys, andheri+"/metrics/2026-02-"); n != 16 {
		t.Errorf("%d February documents read alone, want 16", n)
	}
	b := branch(t, with, andheri)
	if b.Docs.Len() != 77 || len(b.Bad) != 1 || b.Bad[0].Date != "2026-01-05" || !strings.Contains(b.Bad[0].Reason, "net_profit") {
		t.Fatalf("with bundles: %d documents, bad %+v", b.Docs.Len(), b.Bad)
	}

	for _, m := range []string{"2025-12", "2026-01"} {
		if err := st.Delete(context.Background(), fixture.MonthlyKey(andheri, m)); err != nil {
			t.Fatal(err)
		}
	}
	without, stats := sync(t, newSyncer(st), nil, true)
	if keys := gets.take(); stats.Bundles != 0 || stats.Downloaded != 78 || len(keys) != 78 {
		t.Errorf("without bundles: %d bundles, %d alone, %d GETs; want 0, 78, 78", stats.Bundles, stats.Downloaded, len(keys))
	}
	sameBranch(t, b, branch(t, without, andheri))
}

// TestDailyRewrittenAfterBundle: documents rewritten or added after their
// month's bundle are read alone, the rest from the bundle, and the index
// holds the new figures: one rewritten with the same size (its ETag, an
// MD5, tells), one of another size, and one the bundle lacks.
func TestDailyRewrittenAfterBundle(t *testing.T) {
	st, gets := startLoggedS3(t)
	bodies := seedMonths(t, st)

	sameSize := []byte(strings.Replace(string(bodies["2026-01-10"]), `"total_tips": 350000`, `"total_tips": 350001`, 1))
	if len(sameSize) != len(bodies["2026-01-10"]) || string(sameSize) == string(bodies["2026-01-10"]) {
		t.Fatal("the rewrite must keep the size and change the bytes")
	}
	fixture.Put(t, st, fixture.MetricsKey(andheri, "2026-01-10"), sameSize, nil)
	bigger := fixture.Doc(andheri, "2026-01-20", 1)
	bigger.BranchName = "Salon Andheri (renamed)"
	fixture.PutDoc(t, st, bigger)
	// December's bundle without the 31st, which is then pushed again.
	dec := inMonth(bodies, "2025-12")
	delete(dec, "2025-12-31")
	fixture.Put(t, st, fixture.MonthlyKey(andheri, "2025-12"), fixture.EncodeBundle(andheri, "2025-12", dec), nil)

	x, stats := sync(t, newSyncer(st), nil, true)
	keys := gets.take()
	alone := map[string]bool{}
	for _, k := range keys {
		alone[k] = true
	}
	for _, date := range []string{"2026-01-10", "2026-01-20", "2025-12-31"} {
		if !alone[fixture.MetricsKey(andheri, date)] {
			t.Errorf("%s not read alone; GETs: %v", date, keys)
		}
	}
	if stats.Bundles != 2 || stats.Downloaded != 16+3 || stats.FromBundle != 62-3 {
		t.Errorf("%d bundles, %d alone, %d from bundles; want 2, 19, 59", stats.Bundles, stats.Downloaded, stats.FromBundle)
	}
	b := branch(t, x, andheri)
	if d, ok := b.Doc("2026-01-10"); !ok || d.TotalTips != 350001 {
		t.Errorf("2026-01-10 holds the bundle's figures, not the rewritten ones: %+v", d)
	}
	if d, ok := b.Doc("2026-01-20"); !ok || d.BranchName != "Salon Andheri (renamed)" {
		t.Errorf("2026-01-20: %+v", d)
	}
	if _, ok := b.Doc("2025-12-31"); !ok {
		t.Error("2025-12-31 missing")
	}
}

// TestBadBundleFallsBack: a bundle that fails its checks is reported
// under its key and its month is read alone, into the same index; an
// incremental sync keeps reporting it without listing bundles.
func TestBadBundleFallsBack(t *testing.T) {
	cases := []struct {
		name   string
		mangle func([]byte) []byte
		reason string
	}{
		{"checksum", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"sha256": "`, `"sha256": "00`, 1))
		}, "is not the SHA-256 of its body"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "malformed monthly bundle"},
		{"other branch", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"branch_id": "andheri"`, `"branch_id": "bandra"`, 1))
		}, `branch_id "bandra" under prefix "andheri"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, gets := startLoggedS3(t)
			bodies := seedMonths(t, st)
			reference, _ := sync(t, newSyncer(st), nil, true)
			gets.take()
			key := fixture.MonthlyKey(andheri, "2026-01")
			fixture.Put(t, st, key, c.mangle(fixture.EncodeBundle(andheri, "2026-01", inMonth(bodies, "2026-01"))), nil)

			x, stats := sync(t, newSyncer(st), nil, true)
			if keys := gets.take(); countPrefix(keys, andheri+"/metrics/2026-01-") != 31 {
				t.Errorf("%d January documents read alone, want 31", countPrefix(keys, andheri+"/metrics/2026-01-"))
			}
			if stats.NewBad != 2 || stats.Bundles != 2 {
				t.Errorf("NewBad %d, bundles %d; want 2 (the bundle and 5 January), 2", stats.NewBad, stats.Bundles)
			}
			b := branch(t, x, andheri)
			var reported *index.BadDoc
			rest := []index.BadDoc{}
			for i := range b.Bad {
				if b.Bad[i].Key == key {
					reported = &b.Bad[i]
				} else {
					rest = append(rest, b.Bad[i])
				}
			}
			if reported == nil || !strings.Contains(reported.Reason, c.reason) || !strings.Contains(reported.Reason, "read one by one") {
				t.Fatalf("bad bundle reported as %+v, want a reason containing %q", reported, c.reason)
			}
			want := branch(t, reference, andheri)
			sameBranch(t, &index.Branch{Docs: b.Docs, Bad: rest}, want)

			// An incremental sync lists no bundle and keeps the report.
			y, stats := sync(t, newSyncer(st), x, false)
			if keys := gets.take(); len(keys) != 0 || stats.Downloaded != 0 || stats.Bundles != 0 {
				t.Errorf("incremental sync read %v", keys)
			}
			yb := branch(t, y, andheri)
			if !reflect.DeepEqual(yb.Bad, b.Bad) || yb.Docs.Len() != b.Docs.Len() {
				t.Errorf("incremental sync changed the bad documents: %+v", yb.Bad)
			}
		})
	}
}

// TestBundleNotAMetricsDocument: bundle keys never show up as bad daily
// documents, in a full or an incremental sync, and a document whose key
// is under monthly/ but is no bundle name is reported as before.
func TestBundleNotAMetricsDocument(t *testing.T) {
	st, _ := startLoggedS3(t)
	seedMonths(t, st)
	fixture.Put(t, st, andheri+"/metrics/monthly/notes.json", []byte("{}"), nil)
	x, _ := sync(t, newSyncer(st), nil, true)
	for _, full := range []bool{true, false} {
		x, _ = sync(t, newSyncer(st), x, full)
		b := branch(t, x, andheri)
		var keys []string
		for _, bd := range b.Bad {
			keys = append(keys, bd.Key)
		}
		if len(keys) != 2 || keys[0] != fixture.MetricsKey(andheri, "2026-01-05") || keys[1] != andheri+"/metrics/monthly/notes.json" {
			t.Errorf("full %v: bad keys %v", full, keys)
		}
		if b.Docs.Len() != 77 {
			t.Errorf("full %v: %d documents", full, b.Docs.Len())
		}
	}
}
