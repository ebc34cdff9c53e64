package backup_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// countAll counts each reference table's rows now.
func countAll(t *testing.T, url string) map[string]int64 {
	t.Helper()
	conn := backuptest.Connect(t, url)
	out := map[string]int64{}
	for _, tbl := range backuptest.Tables {
		var n int64
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{"public", tbl}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out["public."+tbl] = n
	}
	return out
}

// readManifest reads the manifest of the dump at key as a drill does, and
// checks that it is stored as plain JSON.
func readManifest(t *testing.T, st store.Store, dumpKey string) manifest.Manifest {
	t.Helper()
	m, err := restore.ReadManifest(context.Background(), st, dumpKey)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Stat(context.Background(), dumpKey+layout.ManifestExt)
	if err != nil || info.ContentType != manifest.ContentType {
		t.Errorf("manifest content type %q (%v)", info.ContentType, err)
	}
	return m
}

// TestManifestCountsTheDumpsSnapshot writes to the database after the
// snapshot was exported but before pg_dump started (a pg_dump taking its
// own snapshot would dump those rows), and again while pg_dump runs (it
// waits for a lock on bill_items, and so does the counting, which takes
// that table first, so bills are counted after those writes committed).
// None of the writes is in the counts or in the dump.
// The counts equal count(*) at dump time and the restored copy's; the
// day's figures equal the default query's on the restored copy.
func TestManifestCountsTheDumpsSnapshot(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 300)
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	r, _, _ := newRunner(t, backuptest.Env(url, t.TempDir(), srv), st)
	ctx := context.Background()

	atDump := countAll(t, url)
	lock := backuptest.Connect(t, url)
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE bill_items IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	// Committed after the snapshot was exported, before pg_dump started: a
	// pg_dump with a snapshot of its own would hold these rows.
	r.OnSnapshot = func(string) {
		if _, err := backuptest.Connect(t, url).Exec(ctx, `INSERT INTO bills (bill_number, billed_at, status, subtotal)
			SELECT 'EARLY' || i, timestamptz '2026-02-17 11:00+05:30', 'paid', 500 FROM generate_series(1, 20) AS i`); err != nil {
			t.Errorf("write before pg_dump: %v", err)
		}
	}
	wrote := make(chan error, 1)
	r.OnDumpStart = func(int) {
		go func() {
			err := waitDumpBlocked(t, url)
			if err == nil {
				_, err = backuptest.Connect(t, url).Exec(ctx, `
					INSERT INTO bills (bill_number, billed_at, status, subtotal, discount, cgst, sgst, tip)
					SELECT 'LATE' || i, timestamptz '2026-02-17 12:00+05:30', 'paid', 1000, 0, 90, 90, 0 FROM generate_series(1, 50) AS i;
					DELETE FROM expenses WHERE id IN (SELECT id FROM expenses ORDER BY id LIMIT 10)`)
			}
			_ = tx.Rollback(ctx) // the dump and the counting go on
			wrote <- err
		}()
	}
	res, err := r.Run(ctx)
	if werr := <-wrote; werr != nil {
		t.Fatalf("concurrent writes: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	after := countAll(t, url)
	if after["public.bills"] != atDump["public.bills"]+70 || after["public.expenses"] != atDump["public.expenses"]-10 {
		t.Fatalf("the concurrent writes did not land: %v, then %v", atDump, after)
	}

	m := readManifest(t, st, res.Key)
	if res.Manifest == "" || m.DumpKey != res.Key || m.BranchID != backuptest.Branch || m.Encrypted {
		t.Fatalf("manifest %+v for %s (result says %q)", m, res.Key, res.Manifest)
	}
	info, _ := st.Stat(ctx, res.Key)
	if m.SHA256 != info.Metadata[backup.MetaSHA256] || m.Size != info.Size || m.PlainSHA256 != res.SHA256 {
		t.Errorf("manifest checksum %s/%d, object %s/%d", m.SHA256, m.Size, info.Metadata[backup.MetaSHA256], info.Size)
	}
	if m.StartedAt != "2026-02-17T22:00:05+05:30" || m.ServerVersion == "" || m.PGDumpVersion == "" || m.AgentVersion == "" {
		t.Errorf("manifest identity: %+v", m)
	}
	for name, n := range atDump {
		if m.Tables[name] != n {
			t.Errorf("manifest %s: %d rows, count(*) at dump time %d (now %d)", name, m.Tables[name], n, after[name])
		}
	}

	target := testenv.PG(t).URL(testenv.PG(t).CreateDatabase(t))
	if _, err := restore.Run(ctx, r.Options(), st, restore.Request{Key: res.Key, TargetURL: target}, nil); err != nil {
		t.Fatal(err)
	}
	for name, n := range countAll(t, target) {
		if m.Tables[name] != n {
			t.Errorf("restored %s: %d rows, manifest %d", name, n, m.Tables[name])
		}
	}
	if m.Day == nil || m.Day.Date != "2026-02-17" {
		t.Fatalf("manifest day %+v (error %q), want 2026-02-17: the newest final day at 22:00", m.Day, m.DayError)
	}
	d, _ := layout.ParseDate(m.Day.Date)
	doc, err := summary.DefaultQuery().Compute(ctx, backuptest.Connect(t, target), d, kolkata(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range doc.Figures() {
		if m.Day.Figures[name] != v {
			t.Errorf("day figure %s: manifest %d, restored copy %d", name, m.Day.Figures[name], v)
		}
	}
	if live, _ := summary.DefaultQuery().Compute(ctx, backuptest.Connect(t, url), d, kolkata(t)); live.TotalBills == doc.TotalBills {
		t.Errorf("the 50 late bills of %s should change the live figures (%d bills) but not the snapshot's (%d)", m.Day.Date, live.TotalBills, doc.TotalBills)
	}
}

// TestManifestCountMaxRows: tables estimated above VERIFY_COUNT_MAX_ROWS
// are listed as not counted; the others are counted.
func TestManifestCountMaxRows(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 300)
	if _, err := backuptest.Connect(t, url).Exec(context.Background(), "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	env := backuptest.Env(url, t.TempDir(), srv)
	env[options.EnvVerifyCountMaxRows] = "100"
	r, _, _ := newRunner(t, env, st)
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, st, res.Key)
	live := countAll(t, url)
	var wantNot []string
	for name, n := range live {
		if n > 100 {
			wantNot = append(wantNot, name)
		} else if m.Tables[name] != n {
			t.Errorf("%s: %d rows counted, has %d", name, m.Tables[name], n)
		}
	}
	slices.Sort(wantNot)
	if !slices.Equal(m.NotCounted, wantNot) || len(wantNot) == 0 {
		t.Errorf("not counted %v, want %v", m.NotCounted, wantNot)
	}
}

// TestManifestWhenTheMetricsQueryFails: a metrics query that the server
// refuses does not fail the backup; the manifest says why it has no day.
func TestManifestWhenTheMetricsQueryFails(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 30)
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	q := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(q, []byte("SELECT count(*) AS total_bills FROM no_such_table WHERE $3::date IS NOT NULL"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := backuptest.Env(url, t.TempDir(), srv)
	env[options.EnvMetricsQueryFile] = q
	r, _, _ := newRunner(t, env, st)
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("backup with a broken metrics query: %v", err)
	}
	m := readManifest(t, st, res.Key)
	if m.Day != nil || !strings.Contains(m.DayError, "no_such_table") || !strings.Contains(m.DayError, "2026-02-17") {
		t.Fatalf("manifest day %+v, day_error %q", m.Day, m.DayError)
	}
	if m.Tables["public.bills"] != 30 {
		t.Errorf("tables %v", m.Tables)
	}
}

// refuseManifests answers 503 to uploads of manifests while on is set.
func refuseManifests(on *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if on.Load() && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, layout.ManifestExt) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestCatchUpUploadsTheManifest: a night whose upload fails keeps the
// dump and, beside it, its manifest with the counts taken in the dump's
// snapshot. The start-up catch-up (UploadMissing) uploads the dump and
// that manifest, which then describes the stored object (key, checksum,
// size; encrypted or not) and holds the counts of dump time, not of the
// catch-up's (rows were written in between). A night whose dump went up
// but whose manifest did not gets the manifest from the catch-up alone.
// Local retention deletes a dump's manifest with the dump.
func TestCatchUpUploadsTheManifest(t *testing.T) {
	cases := []struct {
		name      string
		encrypted bool
		// dumpUp: the dump reached the bucket, only its manifest was refused.
		dumpUp bool
	}{
		{name: "upload failed"},
		{name: "encrypted upload failed", encrypted: true},
		{name: "manifest upload failed", dumpUp: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, url := backuptest.NewBranchDB(t, 200)
			var down, noManifests atomic.Bool
			srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
				return outage(&down)(refuseManifests(&noManifests)(next))
			}))
			st := backuptest.FastStore(t, srv, 2)
			dir := t.TempDir()
			env := backuptest.Env(url, dir, srv)
			if tc.encrypted {
				id, err := age.GenerateX25519Identity()
				if err != nil {
					t.Fatal(err)
				}
				env[options.EnvEncryptionRecipients] = id.Recipient().String()
			}
			r, clk, logs := newRunner(t, env, st)
			ctx := context.Background()
			atDump := countAll(t, url)
			if tc.dumpUp {
				noManifests.Store(true)
			} else {
				r.OnDumpStart = func(int) { down.Store(true) }
			}
			first, err := r.Run(ctx)
			r.OnDumpStart = nil
			if err == nil || first.Uploaded != tc.dumpUp || first.Manifest != "" {
				t.Fatalf("first night: %v, %+v; want a failure, dump uploaded %v, no manifest", err, first, tc.dumpUp)
			}
			local := first.Path + layout.ManifestExt
			if _, err := os.Stat(local); err != nil {
				t.Fatalf("no manifest beside the kept dump: %v", err)
			}
			down.Store(false)
			noManifests.Store(false)
			key := backupKey(t, clk.Now(), tc.encrypted)
			if _, err := st.Stat(ctx, key+layout.ManifestExt); !store.IsNotFound(err) {
				t.Fatalf("a manifest reached the bucket on the failed night: %v", err)
			}
			// Rows written after the dump: the catch-up must not count them.
			if _, err := backuptest.Connect(t, url).Exec(ctx, "DELETE FROM expenses WHERE id IN (SELECT id FROM expenses ORDER BY id LIMIT 5)"); err != nil {
				t.Fatal(err)
			}

			done, err := r.UploadMissing(ctx)
			if err != nil {
				t.Fatalf("catch-up: %v\n%s", err, logs)
			}
			wantDone := []string{first.Name}
			if tc.dumpUp {
				wantDone = nil // the dump was there: only its manifest went up
			}
			if !slices.Equal(done, wantDone) {
				t.Fatalf("catch-up uploaded %v, want %v", done, wantDone)
			}
			m := readManifest(t, st, key)
			info, _ := st.Stat(ctx, key)
			if m.DumpKey != key || m.Encrypted != tc.encrypted || m.SHA256 != info.Metadata[backup.MetaSHA256] || m.Size != info.Size ||
				m.PlainSHA256 != first.SHA256 || m.PlainSize != first.Size {
				t.Errorf("manifest %s/%s/%d (plain %s/%d), object %s/%s/%d, local dump %s/%d", m.DumpKey, m.SHA256, m.Size, m.PlainSHA256, m.PlainSize,
					key, info.Metadata[backup.MetaSHA256], info.Size, first.SHA256, first.Size)
			}
			if m.StartedAt != "2026-02-17T22:00:05+05:30" {
				t.Errorf("started_at %s, want the dump's time", m.StartedAt)
			}
			for name, n := range atDump {
				if m.Tables[name] != n {
					t.Errorf("manifest %s: %d rows, %d at dump time", name, m.Tables[name], n)
				}
			}
			if now := countAll(t, url); now["public.expenses"] != atDump["public.expenses"]-5 || m.Tables["public.expenses"] == now["public.expenses"] {
				t.Errorf("expenses: %d now, %d at dump time, manifest %d", now["public.expenses"], atDump["public.expenses"], m.Tables["public.expenses"])
			}
			if m.Day == nil || m.Day.Date != "2026-02-17" {
				t.Errorf("manifest day %+v (%s)", m.Day, m.DayError)
			}

			// Nights later the first dump falls out of local retention: its
			// manifest goes with it, the new dump's stays.
			clk.Set(clk.Now().AddDate(0, 0, r.Options().RetentionDays+1))
			next, err := r.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(next.Pruned, []string{first.Name}) {
				t.Fatalf("pruned %v, want %v", next.Pruned, first.Name)
			}
			if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the pruned dump's manifest is still there: %v", err)
			}
			if _, err := os.Stat(next.Path + layout.ManifestExt); err != nil {
				t.Errorf("the new dump's manifest: %v", err)
			}
			for _, f := range dirFiles(t, dir) {
				if strings.HasPrefix(f, first.Name) {
					t.Errorf("%s is left beside the pruned dump", f)
				}
			}
		})
	}
}

// TestCatchUpSkipsAManifestOfAnotherDump: a manifest beside a local dump
// that does not describe it (another checksum) is never uploaded as its
// manifest: the catch-up uploads the dump alone and says why.
func TestCatchUpSkipsAManifestOfAnotherDump(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 50)
	var down atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(outage(&down)))
	st := backuptest.FastStore(t, srv, 2)
	r, clk, logs := newRunner(t, backuptest.Env(url, t.TempDir(), srv), st)
	ctx := context.Background()
	r.OnDumpStart = func(int) { down.Store(true) }
	first, err := r.Run(ctx)
	if err == nil {
		t.Fatal("backup succeeded with the bucket down")
	}
	down.Store(false)
	local := first.Path + layout.ManifestExt
	data, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	m.SHA256, m.PlainSHA256 = strings.Repeat("0", 64), strings.Repeat("0", 64)
	body, _ := m.Marshal()
	if err := os.WriteFile(local, body, 0o640); err != nil {
		t.Fatal(err)
	}
	done, err := r.UploadMissing(ctx)
	if err != nil || !slices.Equal(done, []string{first.Name}) {
		t.Fatalf("catch-up: %v, %v", done, err)
	}
	key := backupKey(t, clk.Now(), false)
	if _, err := st.Stat(ctx, key); err != nil {
		t.Fatalf("the dump was not uploaded: %v", err)
	}
	if _, err := st.Stat(ctx, key+layout.ManifestExt); !store.IsNotFound(err) {
		t.Errorf("a manifest of another dump was uploaded: %v", err)
	}
	if !strings.Contains(logs.String(), "the manifest beside the dump is not usable") {
		t.Errorf("the skipped manifest was not reported:\n%s", logs)
	}
}
