package service_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var now = time.Date(2026, 2, 17, 12, 0, 0, 0, fixture.IST)

type s3 struct {
	srv  *testenv.S3Server
	st   store.Store
	down atomic.Bool // every request answers 503
}

func startS3(t *testing.T) *s3 {
	t.Helper()
	s := &s3{}
	s.srv = testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.down.Load() {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	o := s.srv.Options()
	o.MaxAttempts = 1
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	s.st = st
	for i, id := range []string{"andheri", "bandra", "powai"} {
		for d := range 20 {
			fixture.PutDoc(t, st, fixture.Doc(id, fixture.Date("2026-01-28", d), int64(i*100+d)))
		}
		fixture.PutBackup(t, st, id, time.Date(2026, 2, 16, 22, 0, 5, 0, time.UTC), 4096)
	}
	return s
}

func newService(t *testing.T, st store.Store, dir string, opts ...func(*service.Options)) *service.Service {
	t.Helper()
	o := service.Options{
		Store: st, DataDir: dir, Location: fixture.IST, FullSyncInterval: time.Hour,
		Policy: freshness.Policy{
			Metrics: freshness.Schedule{At: 21*time.Hour + 45*time.Minute, Grace: 2 * time.Hour},
			Backup:  freshness.Schedule{At: 22 * time.Hour, Grace: 2 * time.Hour},
		},
		Now: func() time.Time { return now },
	}
	for _, f := range opts {
		f(&o)
	}
	svc, err := service.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestRestartFromSnapshot: a restart serves the snapshot at once, and its
// first refresh with nothing new costs two listings per branch.
func TestRestartFromSnapshot(t *testing.T) {
	s := startS3(t)
	dir := t.TempDir()
	first := newService(t, s.st, dir)
	if first.Index() != nil {
		t.Fatal("an index before any sync or snapshot")
	}
	if err := first.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := first.Branches()

	second := newService(t, s.st, dir)
	if second.Index() == nil || !second.LastSync().FromSnapshot {
		t.Fatal("restart did not load the snapshot")
	}
	got := second.Branches()
	if len(got) != len(want) || got[1].Documents != 20 || got[1].LastMetricsDate != want[1].LastMetricsDate ||
		got[1].Metrics.State != freshness.Up || got[1].LastBackup.SHA256 != want[1].LastBackup.SHA256 {
		t.Fatalf("restored %+v\nwant %+v", got[1], want[1])
	}
	before := s.srv.Requests.Load()
	if err := second.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.srv.Requests.Load() - before; n != 6 {
		t.Errorf("refresh after restart made %d requests, want 6 (two per branch)", n)
	}
	if st := second.LastSync().LastStats; st.Downloaded != 0 || st.Changed {
		t.Errorf("refresh after restart: %+v", st)
	}
}

// TestBucketDown: a failed sync keeps the last good index and shows the error.
func TestBucketDown(t *testing.T) {
	s := startS3(t)
	svc := newService(t, s.st, t.TempDir())
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := svc.Index()
	s.down.Store(true)
	for _, refresh := range []func(context.Context) error{svc.Refresh, svc.RefreshIncremental} {
		if err := refresh(context.Background()); err == nil {
			t.Fatal("sync against a bucket that is down succeeded")
		}
		ls := svc.LastSync()
		if ls.LastError == "" || !strings.Contains(ls.LastError, "503") {
			t.Errorf("last error %q does not show the failure", ls.LastError)
		}
		if svc.Index().Documents() != good.Documents() || len(svc.Branches()) != 3 {
			t.Errorf("served %d documents, want the last good %d", svc.Index().Documents(), good.Documents())
		}
	}
	s.down.Store(false)
	if err := svc.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ls := svc.LastSync(); ls.LastError != "" || ls.Failures != 2 {
		t.Errorf("after recovery: %+v", ls)
	}
}

func TestMetricsRange(t *testing.T) {
	s := startS3(t)
	svc := newService(t, s.st, "")
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	cases := []struct {
		name     string
		branch   string
		from, to time.Time
		want     int
		first    string
	}{
		{"all branches, all dates", "", time.Time{}, time.Time{}, 60, "andheri"},
		{"one branch", "bandra", day("2026-02-01"), day("2026-02-05"), 5, "bandra"},
		{"open start", "powai", time.Time{}, day("2026-01-29"), 2, "powai"},
		{"range outside the data", "", day("2025-01-01"), day("2025-12-31"), 0, ""},
		{"unknown branch", "nowhere", time.Time{}, time.Time{}, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs := svc.Metrics(c.branch, c.from, c.to)
			if len(docs) != c.want {
				t.Fatalf("%d documents, want %d", len(docs), c.want)
			}
			for i := 1; i < len(docs); i++ {
				a, b := docs[i-1], docs[i]
				if a.BranchID > b.BranchID || (a.BranchID == b.BranchID && a.SummaryDate >= b.SummaryDate) {
					t.Fatalf("not ordered by branch then date at %d: %s %s, %s %s", i, a.BranchID, a.SummaryDate, b.BranchID, b.SummaryDate)
				}
			}
			if c.want > 0 && docs[0].BranchID != c.first {
				t.Errorf("first document of %s, want %s", docs[0].BranchID, c.first)
			}
		})
	}
	if _, err := index.Load(t.TempDir()); err != index.ErrNoSnapshot {
		t.Errorf("Load of an empty directory: %v, want ErrNoSnapshot", err)
	}
}

// TestFailedSyncRaisesNoAlert: a sync that could not read the newest
// document must not report its branch down on that partial view.
func TestFailedSyncRaisesNoAlert(t *testing.T) {
	s := startS3(t)
	clock := now
	n, err := alert.New(alert.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, s.st, "", func(o *service.Options) {
		o.Notifier = n
		o.Now = func() time.Time { return clock }
	})
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock = time.Date(2026, 2, 17, 23, 30, 0, 0, fixture.IST) // late, inside the grace (until 23:45)
	if err := svc.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	fixture.PutDoc(t, s.st, fixture.Doc("andheri", "2026-02-17", 1))
	clock = clock.Add(40 * time.Minute) // past 2026-02-17's deadline and grace
	s.down.Store(true)
	if err := svc.RefreshIncremental(context.Background()); err == nil {
		t.Fatal("sync against a bucket that is down succeeded")
	}
	s.down.Store(false)
	if err := svc.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range n.History() {
		if r.Branch == "andheri" && r.Check == freshness.CheckMetrics {
			t.Errorf("alert raised for andheri's metrics: %s (%s)", r.Kind, r.Reason)
		}
	}
	if len(n.History()) == 0 {
		t.Error("bandra and powai, one day behind, raised no alert")
	}
}
