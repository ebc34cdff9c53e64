package bundler_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/bundler"
	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/bundle"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const branch = "branch-andheri"

var kolkata, _ = time.LoadLocation("Asia/Kolkata")

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestClosed(t *testing.T) {
	tests := []struct {
		month, today string
		want         bool
	}{
		{"2026-01-01", "2026-01-31", false},
		{"2026-01-01", "2026-02-01", false},
		{"2026-01-15", "2026-02-02", false},
		{"2026-01-01", "2026-02-03", true},
		{"2026-01-01", "2027-01-01", true},
		{"2025-12-01", "2026-01-03", true},
		{"2025-12-01", "2026-01-02", false},
	}
	for _, tt := range tests {
		t.Run(tt.month+" on "+tt.today, func(t *testing.T) {
			if got := bundler.Closed(day(tt.month), day(tt.today)); got != tt.want {
				t.Fatalf("Closed = %v, want %v", got, tt.want)
			}
		})
	}
}

// puts counts the PUTs of monthly bundle keys the server received.
type puts struct {
	mu   sync.Mutex
	keys map[string]int
}

func (p *puts) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/metrics/monthly/") {
			p.mu.Lock()
			p.keys[r.URL.Path[strings.Index(r.URL.Path, branch):]]++
			p.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (p *puts) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.keys {
		out[k] = v
	}
	return out
}

func get(t *testing.T, st store.Store, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBundlesOfPushedDocuments: a branch database with demo data from
// 4 Jan to 4 Mar, every day pushed by the catch-up (real PostgreSQL, real
// S3 protocol server). On 5 Mar January and February are closed: each gets
// one bundle holding exactly the bytes of its daily objects, in date
// order; March does not, until 3 Apr. Runs after that write nothing again,
// and a non-final document stays out.
func TestBundlesOfPushedDocuments(t *testing.T) {
	ctx := context.Background()
	_, url := testenv.NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := demodata.CreateSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := demodata.Generate(ctx, pool, demodata.Options{Days: 60, Seed: 5, End: day("2026-03-04"), Location: kolkata, BillsPerDay: 10}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 5, 12, 0, 0, 0, kolkata)
	clock := func() time.Time { return now }
	sum, err := summary.New(pool, summary.Config{BranchID: branch, Location: kolkata, Now: clock}, discard())
	if err != nil {
		t.Fatal(err)
	}
	p := &puts{keys: map[string]int{}}
	srv := testenv.StartS3(t, testenv.WithMiddleware(p.middleware))
	st := srv.Store(t)
	pub, err := push.New(branch, st, t.TempDir(), discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, pushed, err := catchup.Run(ctx, sum, pub, 400, 90, discard()); err != nil || len(pushed.Done) != 60 {
		t.Fatalf("catch-up pushed %d days: %v", len(pushed.Done), err)
	}
	// Today's figures, pushed early: not final.
	if doc, _, err := pub.PushDate(ctx, sum, day("2026-03-05"), false); err != nil || doc.IsFinal {
		t.Fatalf("push of today: final %v, %v", doc.IsFinal, err)
	}
	w := &bundler.Writer{Branch: branch, Store: st, Location: kolkata, Now: clock, Logger: discard()}

	res, err := w.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Written, ",") != "2026-01,2026-02" {
		t.Fatalf("written %v, want 2026-01 and 2026-02", res.Written)
	}
	checkBundle(t, st, "2026-01", "2026-01-04", "2026-01-31")
	checkBundle(t, st, "2026-02", "2026-02-01", "2026-02-28")

	for _, at := range []time.Time{now.Add(time.Hour), time.Date(2026, 4, 2, 23, 59, 0, 0, kolkata)} {
		now = at
		res, err = w.Run(ctx)
		if err != nil || len(res.Written) != 0 {
			t.Fatalf("run at %s wrote %v (%v), want nothing", at, res.Written, err)
		}
	}
	now = time.Date(2026, 4, 3, 0, 1, 0, 0, kolkata) // the 3rd in the branch's zone (still the 2nd in UTC)
	if res, err = w.Run(ctx); err != nil || strings.Join(res.Written, ",") != "2026-03" {
		t.Fatalf("on 3 Apr wrote %v (%v), want 2026-03", res.Written, err)
	}
	checkBundle(t, st, "2026-03", "2026-03-01", "2026-03-04") // not the 5th: not final
	if res, err = w.Run(ctx); err != nil || len(res.Written) != 0 {
		t.Fatalf("second run on 3 Apr wrote %v (%v)", res.Written, err)
	}
	want := map[string]int{
		branch + "/metrics/monthly/2026-01.json": 1,
		branch + "/metrics/monthly/2026-02.json": 1,
		branch + "/metrics/monthly/2026-03.json": 1,
	}
	got := p.snapshot()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s put %d times, want once", k, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("bundles put: %v", got)
	}
}

// checkBundle reads a month's bundle: valid, at its key, dates first..last
// one a day, each body byte for byte the daily object.
func checkBundle(t *testing.T, st store.Store, month, first, last string) {
	t.Helper()
	m, _ := layout.ParseMonth(month)
	key, _ := layout.MonthlyKey(branch, m)
	b, err := bundle.Unmarshal(get(t, st, key))
	if err == nil {
		err = b.Validate()
	}
	if err == nil {
		err = b.CheckKey(key)
	}
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	d := day(first)
	for i, e := range b.Documents {
		if want := d.Format(time.DateOnly); e.Date != want {
			t.Fatalf("%s: document %d is of %s, want %s", key, i, e.Date, want)
		}
		dk, _ := layout.MetricsKey(branch, d)
		if daily := get(t, st, dk); !bytes.Equal(daily, e.Body) {
			t.Errorf("%s: %s differs from %s:\n%s\n%s", key, e.Date, dk, e.Body, daily)
		}
		d = d.AddDate(0, 0, 1)
	}
	if got := d.AddDate(0, 0, -1).Format(time.DateOnly); got != last {
		t.Errorf("%s: last document %s, want %s", key, got, last)
	}
}
