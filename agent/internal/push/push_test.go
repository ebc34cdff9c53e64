package push_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const branch = "branch-andheri"

var kolkata, _ = time.LoadLocation("Asia/Kolkata")

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func doc(date string, gross int64) metrics.Document {
	d := metrics.Document{
		SchemaVersion: 1, BranchID: branch, BranchName: "Andheri", SummaryDate: date,
		GeneratedAt: date + "T21:45:00+05:30", IsFinal: true, Currency: "INR",
		TotalBills: 1, GrossRevenue: gross, TotalExpenses: 100,
	}
	d.Derive()
	return d
}

// target is one of the two destinations, with a way to read back a date.
type target struct {
	name string
	new  func(t *testing.T) (*push.Publisher, func(date string) ([]byte, bool))
}

var targets = []target{
	{"bucket", func(t *testing.T) (*push.Publisher, func(string) ([]byte, bool)) {
		srv := testenv.StartS3(t)
		st := srv.Store(t)
		p, err := push.New(branch, st, t.TempDir(), discard())
		if err != nil {
			t.Fatal(err)
		}
		return p, func(date string) ([]byte, bool) {
			rc, info, err := st.Get(context.Background(), branch+"/metrics/"+date+".json")
			if store.IsNotFound(err) {
				return nil, false
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if info.ContentType != "application/json" {
				t.Errorf("content type %q", info.ContentType)
			}
			b, _ := io.ReadAll(rc)
			return b, true
		}
	}},
	{"local-only", func(t *testing.T) (*push.Publisher, func(string) ([]byte, bool)) {
		dir := t.TempDir()
		p, err := push.New(branch, nil, dir, discard())
		if err != nil {
			t.Fatal(err)
		}
		return p, func(date string) ([]byte, bool) {
			b, err := os.ReadFile(filepath.Join(dir, "metrics", date+".json"))
			if os.IsNotExist(err) {
				return nil, false
			}
			if err != nil {
				t.Fatal(err)
			}
			return b, true
		}
	}},
}

func TestPushWritesAndOverwrites(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			p, read := tg.new(t)
			for _, gross := range []int64{5000, 7000} { // the second push replaces the first
				d := doc("2026-02-16", gross)
				if _, err := p.Push(ctx, d); err != nil {
					t.Fatal(err)
				}
				got, ok := read("2026-02-16")
				want, _ := d.Marshal()
				if !ok || string(got) != string(want) {
					t.Fatalf("stored %q, want %q", got, want)
				}
			}
			got, _ := read("2026-02-16")
			if keys := jsonKeys(t, got); strings.Join(keys, ",") != strings.Join(metrics.FieldNames, ",") {
				t.Errorf("field order %v, want %v", keys, metrics.FieldNames)
			}

			bad := []struct {
				name string
				mod  func(*metrics.Document)
				want string
			}{
				{"broken invariant", func(d *metrics.Document) { d.NetProfit++ }, "net_profit"},
				{"another branch", func(d *metrics.Document) { d.BranchID = "branch-bandra" }, "not \"branch-andheri\""},
			}
			for _, b := range bad {
				t.Run(b.name, func(t *testing.T) {
					d := doc("2026-02-17", 1)
					b.mod(&d)
					if _, err := p.Push(ctx, d); err == nil || !strings.Contains(err.Error(), b.want) {
						t.Errorf("err = %v, want it to mention %q", err, b.want)
					}
					if _, ok := read("2026-02-17"); ok {
						t.Error("a refused document was written")
					}
				})
			}
		})
	}
}

// jsonKeys lists the keys of a flat JSON object in document order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestPresentIsOneListing(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	p, err := push.New(branch, st, t.TempDir(), discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"2026-01-01", "2026-02-10", "2026-02-12", "2026-02-16"} {
		if _, err := p.Push(ctx, doc(d, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Neighbours and strays that must not count.
	for _, k := range []string{branch + "/metrics/notes.txt", "branch-andheri-2/metrics/2026-02-11.json", branch + "/backups/x.dump",
		branch + "/metrics/monthly/2026-02.json", branch + "/metrics/monthly/2026-02-13.json"} { // bundles are no daily documents
		if _, err := st.Put(ctx, k, strings.NewReader("x"), store.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	before := srv.Requests.Load()
	got, err := p.Present(ctx, time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests.Load() - before; n != 1 {
		t.Errorf("%d requests, want one listing", n)
	}
	want := map[string]bool{"2026-02-10": true, "2026-02-12": true, "2026-02-16": true}
	if len(got) != len(want) {
		t.Errorf("present = %v, want %v", got, want)
	}
	for d := range want {
		if e, ok := got[d]; !ok || e.Size == 0 || e.ETag == "" {
			t.Errorf("%s missing from %v, or without its size and ETag", d, got)
		}
	}
}

func TestPresentLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, _ := push.New(branch, nil, dir, discard())
	if got, err := p.Present(ctx, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)); err != nil || len(got) != 0 {
		t.Fatalf("no directory yet: %v %v", got, err)
	}
	for _, d := range []string{"2026-01-31", "2026-02-03"} {
		if _, err := p.Push(ctx, doc(d, 1)); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "metrics", "2026-02-30.json"), []byte("{}"), 0o600) // not a date
	got, err := p.Present(ctx, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	if e, ok := got["2026-02-03"]; err != nil || len(got) != 1 || !ok || e.Size == 0 {
		t.Errorf("present = %v (%v), want only 2026-02-03", got, err)
	}
}

func newSummarizer(t *testing.T, queryFile string) (*summary.Summarizer, *pgxpool.Pool) {
	t.Helper()
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
	cfg := summary.Config{BranchID: branch, Location: kolkata, Now: func() time.Time { return time.Date(2026, 2, 20, 12, 0, 0, 0, kolkata) }}
	if queryFile != "" {
		q, err := summary.LoadQueryFile(queryFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Query = q
	}
	s, err := summary.New(pool, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func TestPushDate(t *testing.T) {
	ctx := context.Background()
	date := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)

	t.Run("an empty day is summarized, stored, pushed and marked", func(t *testing.T) {
		s, _ := newSummarizer(t, "")
		srv := testenv.StartS3(t)
		p, _ := push.New(branch, srv.Store(t), t.TempDir(), discard())
		d, key, err := p.PushDate(ctx, s, date, false)
		if err != nil {
			t.Fatal(err)
		}
		if key != branch+"/metrics/2026-02-16.json" || d.TotalBills != 0 || d.NetProfit != 0 || !d.IsFinal {
			t.Errorf("pushed %s: %+v", key, d)
		}
		_, st, found, err := s.Document(ctx, date)
		if err != nil || !found || !st.Pushed {
			t.Errorf("stored %+v found %v (%v): want marked pushed", st, found, err)
		}
	})

	t.Run("a broken query file pushes nothing", func(t *testing.T) {
		qf := filepath.Join(t.TempDir(), "q.sql")
		_ = os.WriteFile(qf, []byte("SELECT 1 AS total_bills"), 0o600)
		s, _ := newSummarizer(t, qf)
		srv := testenv.StartS3(t)
		p, _ := push.New(branch, srv.Store(t), t.TempDir(), discard())
		_, _, err := p.PushDate(ctx, s, date, false)
		if err == nil || !strings.Contains(err.Error(), qf) || !strings.Contains(err.Error(), `"refund_count"`) {
			t.Fatalf("err = %v", err)
		}
		page, err := srv.Store(t).List(ctx, store.ListOptions{Prefix: branch + "/"})
		if err != nil || len(page.Objects) != 0 {
			t.Errorf("bucket holds %v (%v), want nothing", page.Objects, err)
		}
	})

	t.Run("a refused upload leaves the summary unmarked", func(t *testing.T) {
		s, _ := newSummarizer(t, "")
		var refused atomic.Int64
		srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					refused.Add(1)
					http.Error(w, `<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`, http.StatusForbidden)
					return
				}
				next.ServeHTTP(w, r)
			})
		}))
		p, _ := push.New(branch, srv.Store(t), t.TempDir(), discard())
		if _, _, err := p.PushDate(ctx, s, date, false); err == nil {
			t.Fatal("no error")
		}
		_, st, found, err := s.Document(ctx, date)
		if err != nil || !found || st.Pushed || refused.Load() == 0 {
			t.Errorf("stored %+v found %v (%v), %d PUTs refused: want stored, not marked", st, found, err, refused.Load())
		}
	})
}
