package syncer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// counter counts the S3 requests by kind and can fail chosen ones.
type counter struct {
	lists, gets, heads atomic.Int64
	// fail, when set, answers 500 to the requests it matches.
	fail atomic.Pointer[func(r *http.Request) bool]
}

func (c *counter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Query().Has("list-type"):
			c.lists.Add(1)
		case r.Method == http.MethodGet:
			c.gets.Add(1)
		case r.Method == http.MethodHead:
			c.heads.Add(1)
		}
		if f := c.fail.Load(); f != nil && (*f)(r) {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *counter) reset() { c.lists.Store(0); c.gets.Store(0); c.heads.Store(0) }

func startS3(t *testing.T) (store.Store, *counter) {
	t.Helper()
	c := &counter{}
	srv := testenv.StartS3(t, testenv.WithMiddleware(c.middleware))
	st, err := store.NewS3(func() store.S3Options { o := srv.Options(); o.MaxAttempts = 1; return o }())
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

func newSyncer(st store.Store, expected ...string) *syncer.Syncer {
	return syncer.New(st, syncer.Options{Expected: expected, Concurrency: 4, RelistDays: 3,
		Now: func() time.Time { return time.Date(2026, 2, 20, 12, 0, 0, 0, time.UTC) }})
}

func sync(t *testing.T, s *syncer.Syncer, prev *index.Index, full bool) (*index.Index, syncer.Stats) {
	t.Helper()
	x, st, err := s.Sync(context.Background(), prev, full)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return x, st
}

func branch(t *testing.T, x *index.Index, id string) *index.Branch {
	t.Helper()
	b, ok := x.Branch(id)
	if !ok {
		t.Fatalf("branch %s missing from the index", id)
	}
	return b
}

// TestBadInput puts every kind of bad object beside good ones: each bad one
// is listed with its date and reason, none stops the rest, none is counted.
func TestBadInput(t *testing.T) {
	st, _ := startS3(t)
	good := fixture.Doc("andheri", "2026-02-10", 1)
	fixture.PutDoc(t, st, good)
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-12", 2))

	mutate := func(date string, f func(m map[string]any)) []byte {
		d := fixture.Doc("andheri", date, 3)
		var m map[string]any
		if err := jsonUnmarshal(fixture.Encode(d), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		return jsonMarshal(t, m)
	}
	cases := []struct {
		name, date string
		body       []byte
		key        string // default: the date's key
		reason     string // substring of the recorded reason
	}{
		{name: "malformed JSON", date: "2026-01-01", body: []byte(`{"schema_version": 1, "branch_id": `), reason: "malformed JSON"},
		{name: "wrong type", date: "2026-01-02", body: mutate("2026-01-02", func(m map[string]any) { m["total_bills"] = "42" }), reason: "total_bills"},
		{name: "invariant violation", date: "2026-01-03", body: mutate("2026-01-03", func(m map[string]any) { m["net_profit"] = 1 }), reason: "net_profit"},
		{name: "summary_date not its key", date: "2026-01-04", body: mutate("2026-01-05", nil_), reason: "summary_date"},
		{name: "branch_id not its prefix", date: "2026-01-06", body: fixture.Encode(fixture.Doc("bandra", "2026-01-06", 1)), reason: "branch_id"},
		{name: "unknown major version", date: "2026-01-07", body: mutate("2026-01-07", func(m map[string]any) { m["schema_version"] = 2 }), reason: metrics.ErrUnsupportedVersion.Error()},
		{name: "oversized", date: "2026-01-08", body: append(fixture.Encode(fixture.Doc("andheri", "2026-01-08", 1)), bytes.Repeat([]byte(" "), metrics.MaxDocumentBytes)...), reason: "not read"},
		{name: "not a date key", key: "andheri/metrics/notes.json", body: []byte(`{}`), reason: "not a metrics document name"},
	}
	for _, c := range cases {
		key := c.key
		if key == "" {
			key = fixture.MetricsKey("andheri", c.date)
		}
		fixture.Put(t, st, key, c.body, nil)
	}
	// Not branches: ignored, counted.
	fixture.Put(t, st, "Not_A_Branch/metrics/2026-01-01.json", fixture.Encode(good), nil)
	fixture.Put(t, st, "top-level.txt", []byte("x"), nil)
	fixture.Put(t, st, "andheri/notes/readme.txt", []byte("x"), nil)

	x, stats := sync(t, newSyncer(st, "ghost"), nil, true)
	b := branch(t, x, "andheri")
	if b.Docs.Len() != 2 || b.Docs.Date(0) != "2026-02-10" || b.Docs.Date(1) != "2026-02-12" {
		t.Fatalf("good documents = %d %+v", b.Docs.Len(), b.DocRange("", ""))
	}
	if len(b.Bad) != len(cases) || stats.NewBad != len(cases) {
		t.Fatalf("bad documents = %d (stats %d), want %d: %+v", len(b.Bad), stats.NewBad, len(cases), b.Bad)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := c.key
			if key == "" {
				key = fixture.MetricsKey("andheri", c.date)
			}
			for _, bd := range b.Bad {
				if bd.Key == key {
					if bd.Date != c.date {
						t.Errorf("date = %q, want %q", bd.Date, c.date)
					}
					if !strings.Contains(bd.Reason, c.reason) {
						t.Errorf("reason %q does not mention %q", bd.Reason, c.reason)
					}
					return
				}
			}
			t.Fatalf("%s not among the bad documents", key)
		})
	}
	if got := x.IgnoredPrefixes; len(got) != 1 || got[0] != "Not_A_Branch/" {
		t.Errorf("ignored prefixes = %v", got)
	}
	if b.Ignored != 1 {
		t.Errorf("ignored objects under andheri/ = %d, want 1", b.Ignored)
	}
	ghost := branch(t, x, "ghost")
	if !ghost.Expected || ghost.Docs.Len()+len(ghost.Backups) != 0 {
		t.Errorf("expected branch with nothing = %+v", ghost)
	}
	if _, ok := x.Branch("bandra"); ok {
		t.Error("bandra has nothing in the bucket but is in the index")
	}
}

func nil_(map[string]any) {}

// TestRefreshListsOnlyWhatIsNew: after a full sync, a refresh with nothing
// new costs two listings per branch and no download; a new document, a
// rewritten recent one and a new dump are picked up with one download each.
func TestRefreshListsOnlyWhatIsNew(t *testing.T) {
	st, c := startS3(t)
	branches := []string{"andheri", "bandra", "powai"}
	for i, id := range branches {
		for d := range 10 {
			fixture.PutDoc(t, st, fixture.Doc(id, fixture.Date("2026-02-01", d), int64(i+d)))
		}
		for d := range 4 {
			fixture.PutBackup(t, st, id, time.Date(2026, 2, 6+d, 22, 0, 5, 0, time.UTC), 1000+d)
		}
	}
	s := newSyncer(st)
	x, stats := sync(t, s, nil, true)
	if stats.Downloaded != 30 || x.Documents() != 30 {
		t.Fatalf("cold sync downloaded %d, indexed %d, want 30", stats.Downloaded, x.Documents())
	}
	nb := branch(t, x, "andheri").LatestBackup()
	if nb.SHA256 != fmt.Sprintf("%064x", 1003) {
		t.Errorf("newest backup sha256 = %q", nb.SHA256)
	}

	c.reset()
	y, stats := sync(t, s, x, false)
	if got := c.lists.Load(); got != int64(2*len(branches)) {
		t.Errorf("refresh with nothing new made %d listings, want %d", got, 2*len(branches))
	}
	if c.gets.Load() != 0 || c.heads.Load() != 0 || stats.Downloaded != 0 {
		t.Errorf("refresh with nothing new: %d GETs, %d HEADs", c.gets.Load(), c.heads.Load())
	}
	if stats.Changed || y.Documents() != 30 {
		t.Errorf("refresh with nothing new: changed=%v, %d documents", stats.Changed, y.Documents())
	}
	if a, b := branch(t, x, "powai"), branch(t, y, "powai"); a != b {
		t.Error("an unchanged branch was rebuilt instead of shared")
	}

	rewritten := fixture.Doc("bandra", "2026-02-09", 99)
	fixture.PutDoc(t, st, rewritten)
	fixture.PutDoc(t, st, fixture.Doc("bandra", "2026-02-11", 5))
	fixture.PutBackup(t, st, "bandra", time.Date(2026, 2, 10, 22, 0, 5, 0, time.UTC), 1500)
	c.reset()
	z, stats := sync(t, s, y, false)
	if stats.Downloaded != 2 || c.gets.Load() != 2 || c.heads.Load() != 1 {
		t.Errorf("refresh downloaded %d (%d GETs, %d HEADs), want 2 and 1 HEAD", stats.Downloaded, c.gets.Load(), c.heads.Load())
	}
	b := branch(t, z, "bandra")
	if b.Docs.Len() != 11 || len(b.Backups) != 5 || b.LatestBackup().Size != 1500 {
		t.Fatalf("bandra after refresh: %d docs, %d backups", b.Docs.Len(), len(b.Backups))
	}
	if d, _ := b.Doc("2026-02-09"); d.GrossRevenue != rewritten.GrossRevenue {
		t.Errorf("rewritten document not picked up: gross %d, want %d", d.GrossRevenue, rewritten.GrossRevenue)
	}
}

// TestFullSyncDropsDeleted: retention deletes old dumps; a full sync sees it.
func TestFullSyncDropsDeleted(t *testing.T) {
	st, _ := startS3(t)
	var keys []string
	for d := range 5 {
		keys = append(keys, fixture.PutBackup(t, st, "andheri", time.Date(2026, 2, 1+d, 22, 0, 0, 0, time.UTC), 100))
	}
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-05", 1))
	s := newSyncer(st)
	x, _ := sync(t, s, nil, true)
	for _, k := range keys[:2] {
		if err := st.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	y, _ := sync(t, s, x, false)
	if n := len(branch(t, y, "andheri").Backups); n != 5 {
		t.Errorf("incremental refresh: %d backups, want the 5 it knew", n)
	}
	z, _ := sync(t, s, y, true)
	b := branch(t, z, "andheri")
	if len(b.Backups) != 3 || b.Backups[0].Key != keys[2] {
		t.Errorf("full sync: backups %+v, want the last 3", b.Backups)
	}
}

// TestFailureMidSync: the server fails part of a sync; the branches and
// documents it could not read keep their last good state, the error names
// them, and the next sync recovers.
func TestFailureMidSync(t *testing.T) {
	st, c := startS3(t)
	for _, id := range []string{"andheri", "bandra"} {
		for d := range 3 {
			fixture.PutDoc(t, st, fixture.Doc(id, fixture.Date("2026-02-01", d), int64(d)))
		}
	}
	s := newSyncer(st)
	x, _ := sync(t, s, nil, true)

	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-04", 7))
	fixture.PutDoc(t, st, fixture.Doc("bandra", "2026-02-04", 7))
	cases := []struct {
		name string
		fail func(r *http.Request) bool
		full bool
	}{
		{"downloads fail", func(r *http.Request) bool {
			return r.Method == http.MethodGet && !r.URL.Query().Has("list-type") && strings.Contains(r.URL.Path, "andheri")
		}, false},
		{"every request fails", func(*http.Request) bool { return true }, false},
		{"discovery fails", func(r *http.Request) bool { return r.URL.Query().Get("delimiter") == "/" }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.fail.Store(&tc.fail)
			y, _, err := s.Sync(context.Background(), x, tc.full)
			c.fail.Store(nil)
			if err == nil {
				t.Fatal("sync with failures returned no error")
			}
			a := branch(t, y, "andheri")
			if a.Docs.Len() != 3 {
				t.Errorf("andheri has %d documents, want its last good 3", a.Docs.Len())
			}
			if branch(t, y, "bandra").Docs.Len() < 3 {
				t.Error("bandra lost documents")
			}
			z, _ := sync(t, s, y, false)
			if n := branch(t, z, "andheri").Docs.Len(); n != 4 {
				t.Errorf("after recovery andheri has %d documents, want 4", n)
			}
		})
	}
}

// TestDirStore: a local copy of the bucket reads like the bucket.
func TestDirStore(t *testing.T) {
	st, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-01", 1))
	fixture.PutBackup(t, st, "andheri", time.Date(2026, 2, 1, 22, 0, 0, 0, time.UTC), 50)
	s := newSyncer(st)
	x, _ := sync(t, s, nil, true)
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-02", 1))
	y, _ := sync(t, s, x, false)
	b := branch(t, y, "andheri")
	if b.Docs.Len() != 2 || len(b.Backups) != 1 || b.Backups[0].SHA256 == "" {
		t.Fatalf("dir store: %+v", b)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBranchOverOnePage: a branch with more objects than a listing page
// is read whole, in full and incremental syncs.
func TestBranchOverOnePage(t *testing.T) {
	backend := s3mem.New()
	srv := testenv.StartS3(t, testenv.WithBackend(backend))
	seeded, err := fixture.Bucket{Branches: 2, Days: 1100, Backups: 30, LastDate: "2026-02-16", BackupBytes: 10}.Seed(backend, srv.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	st := srv.Store(t)
	s := newSyncer(st)
	x, stats := sync(t, s, nil, true)
	if x.Documents() != seeded || stats.Downloaded != seeded {
		t.Fatalf("full sync: %d documents (%d downloaded), want %d", x.Documents(), stats.Downloaded, seeded)
	}
	for _, b := range x.Branches {
		if len(b.Backups) != 30 || b.Ignored != 0 {
			t.Errorf("%s: %d backups, %d ignored", b.ID, len(b.Backups), b.Ignored)
		}
	}
	fixture.PutDoc(t, st, fixture.Doc(fixture.BranchID(0), "2026-02-17", 1))
	y, stats := sync(t, s, x, false)
	if y.Documents() != seeded+1 || stats.Downloaded != 1 {
		t.Errorf("incremental: %d documents, %d downloaded", y.Documents(), stats.Downloaded)
	}
	z, stats := sync(t, s, y, true)
	if z.Documents() != seeded+1 || stats.Downloaded != 0 {
		t.Errorf("second full sync: %d documents, %d downloaded (want none)", z.Documents(), stats.Downloaded)
	}
}

// TestFullSyncSkipsForeignPrefixes: a big prefix that is not a branch
// costs one extra listing, not a walk through its objects.
func TestFullSyncSkipsForeignPrefixes(t *testing.T) {
	backend := s3mem.New()
	c := &counter{}
	srv := testenv.StartS3(t, testenv.WithBackend(backend), testenv.WithMiddleware(c.middleware))
	for i := range 5000 {
		key := fmt.Sprintf("m_archive/%05d.bin", i)
		if _, err := backend.PutObject(srv.Bucket, key, map[string]string{}, bytes.NewReader([]byte("x")), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := srv.Store(t)
	for _, id := range []string{"a1", "zz"} {
		fixture.PutDoc(t, st, fixture.Doc(id, "2026-02-16", 1))
	}
	c.reset()
	x, _ := sync(t, newSyncer(st), nil, true)
	if x.Documents() != 2 || len(x.IgnoredPrefixes) != 1 {
		t.Fatalf("%d documents, ignored %v", x.Documents(), x.IgnoredPrefixes)
	}
	// Discovery, the first page, the listing after the foreign prefix.
	if n := c.lists.Load(); n > 3 {
		t.Errorf("%d listings, want at most 3", n)
	}
}

// TestManifestsAreNotBackups: a dump's manifest beside it is neither a
// backup nor an ignored object, in full and incremental syncs, and a dump
// without a manifest (an older agent's) is a backup all the same.
func TestManifestsAreNotBackups(t *testing.T) {
	st, _ := startS3(t)
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-01", 1))
	old := fixture.PutBackup(t, st, "andheri", time.Date(2026, 2, 1, 22, 0, 0, 0, time.UTC), 50)
	withManifest := fixture.PutBackup(t, st, "andheri", time.Date(2026, 2, 2, 22, 0, 0, 0, time.UTC), 60)
	fixture.Put(t, st, withManifest+".manifest.json", []byte(`{"schema_version": 1}`), nil)
	s := newSyncer(st)
	x, _ := sync(t, s, nil, true)
	b := branch(t, x, "andheri")
	if len(b.Backups) != 2 || b.Backups[0].Key != old || b.Backups[1].Key != withManifest || b.Ignored != 0 {
		t.Fatalf("full sync: backups %+v, %d ignored; want the two dumps and nothing ignored", b.Backups, b.Ignored)
	}
	if b.LatestBackup().SHA256 == "" {
		t.Error("the newest backup's checksum was not read")
	}
	newest := fixture.PutBackup(t, st, "andheri", time.Date(2026, 2, 3, 22, 0, 0, 0, time.UTC), 70)
	fixture.Put(t, st, newest+".manifest.json", []byte(`{"schema_version": 1}`), nil)
	y, _ := sync(t, s, x, false)
	b = branch(t, y, "andheri")
	if len(b.Backups) != 3 || b.LatestBackup().Key != newest || b.LatestBackup().Size != 70 {
		t.Fatalf("incremental sync: backups %+v, want 3 ending with %s", b.Backups, newest)
	}
}
