package restoredrill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/agent/internal/restoredrill"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// ist is the branch's zone (Asia/Kolkata) as a fixed offset.
var ist = time.FixedZone("IST", 5*3600+30*60)

// backupAt is the backup's clock: 22:30 on 2 February, after the 21:45
// summary, so the manifest's day is 2 February, a day with bills.
var backupAt = time.Date(2026, 2, 2, 22, 30, 0, 0, ist)

// drillAt is the drill's clock: Sunday 8 February, 03:00.
var drillAt = time.Date(2026, 2, 8, 3, 0, 0, 0, ist)

const day = "2026-02-02"

// fixture is a branch database backed up once to a loopback bucket.
type fixture struct {
	pg     *testenv.Postgres
	source string
	opts   options.Options
	st     store.Store
	res    backup.Result
	id     *age.X25519Identity // decrypts the backup when encrypted
}

func backedUp(t *testing.T, encrypted bool) fixture {
	t.Helper()
	pg, _, url := backuptest.NewBranchDB(t, 300)
	srv := testenv.StartS3(t)
	f := fixture{pg: pg, source: url, st: srv.Store(t)}
	env := backuptest.Env(url, t.TempDir(), srv)
	env[options.EnvTimezone] = "Asia/Kolkata"
	if encrypted {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		f.id = id
		env[options.EnvEncryptionRecipients] = id.Recipient().String()
	}
	f.opts = backuptest.Options(t, env)
	r, err := backup.New(f.opts, f.st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.Now = func() time.Time { return backupAt }
	if f.res, err = r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// pushDay puts the metrics document of day as the summary job would have
// pushed it, computed from the source database now.
func (f fixture) pushDay(t *testing.T) metrics.Document {
	t.Helper()
	ctx := context.Background()
	d, _ := layout.ParseDate(day)
	doc, err := summary.DefaultQuery().Compute(ctx, backuptest.Connect(t, f.source), d, f.opts.Location)
	if err != nil {
		t.Fatal(err)
	}
	doc.SchemaVersion, doc.BranchID, doc.BranchName, doc.SummaryDate = metrics.SchemaVersion, f.opts.BranchID, f.opts.BranchName, day
	doc.GeneratedAt, doc.IsFinal, doc.Currency = "2026-02-02T21:45:00+05:30", true, "INR"
	body, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := layout.MetricsKey(f.opts.BranchID, d)
	if _, err := f.st.Put(ctx, key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	return doc
}

func (f fixture) drill(t *testing.T, o options.Options, ids []age.Identity) (restoredrill.Result, error) {
	t.Helper()
	return restoredrill.Run(context.Background(), o, f.st, restoredrill.Request{
		VerifyRequest: restore.VerifyRequest{Identities: ids, ScratchURL: o.VerifyDatabaseURL},
	}, nil, drillAt)
}

// storedRecord reads the drill record of drillAt's date from the bucket.
func (f fixture) storedRecord(t *testing.T) drill.Record {
	t.Helper()
	key, _ := layout.DrillKey(f.opts.BranchID, drillAt)
	rc, _, err := f.st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("drill record %s: %v", key, err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	r, err := drill.Unmarshal(data)
	if err == nil {
		err = r.Validate()
	}
	if err == nil {
		err = r.CheckKey(key)
	}
	if err != nil {
		t.Fatalf("drill record %s: %v\n%s", key, err, data)
	}
	return r
}

// scratchGone fails when the drill's scratch database still exists.
func (f fixture) scratchGone(t *testing.T, name string) {
	t.Helper()
	if name == "" {
		return
	}
	var n int
	if err := backuptest.Connect(t, f.pg.URL("postgres")).QueryRow(context.Background(),
		"SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("scratch database %s was left behind", name)
	}
}

func liveCount(t *testing.T, url, table string) int64 {
	t.Helper()
	var n int64
	if err := backuptest.Connect(t, url).QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{"public", table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDrillPasses: an encrypted backup downloaded from the bucket (the
// identical local dump is there, and not used), decrypted, restored into
// a temporary database that is dropped again, every table's rows and the
// day's figures equal to the manifest's, and the record says so.
func TestDrillPasses(t *testing.T) {
	f := backedUp(t, true)
	pushed := f.pushDay(t)
	// Written after the backup: neither the manifest nor the restore has it.
	if _, err := backuptest.Connect(t, f.source).Exec(context.Background(), "INSERT INTO expenses (spent_on, category, amount) VALUES ('2026-02-02', 'late', 1)"); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	res, err := restoredrill.Run(context.Background(), f.opts, f.st, restoredrill.Request{
		VerifyRequest: restore.VerifyRequest{Identities: []age.Identity{f.id}, Progress: &progress, ProgressEvery: 5 * time.Millisecond},
	}, nil, drillAt)
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if !strings.Contains(progress.String(), "elapsed") || !strings.Contains(progress.String(), "restored so far") {
		t.Errorf("no progress line during the restore:\n%s", progress.String())
	}
	if res.Verify.Origin != restore.OriginBucket {
		t.Errorf("restored from %s, want the bucket's copy", res.Verify.Origin)
	}
	rec := f.storedRecord(t)
	if !rec.OK || rec.Error != "" || rec.BackupKey != f.res.Key || rec.DrilledAt != "2026-02-08T03:00:00+05:30" {
		t.Fatalf("record: %+v", rec)
	}
	info, _ := f.st.Stat(context.Background(), f.res.Key)
	if rec.BackupSHA256 != info.Metadata[backup.MetaSHA256] {
		t.Errorf("backup_sha256 %s, the object's is %s", rec.BackupSHA256, info.Metadata[backup.MetaSHA256])
	}
	for _, tbl := range backuptest.Tables {
		want := liveCount(t, f.source, tbl)
		if tbl == "expenses" {
			want-- // the late row
		}
		c, ok := rec.Tables["public."+tbl]
		if !ok || c.Expected == nil || c.Restored == nil || *c.Expected != want || *c.Restored != want {
			t.Errorf("public.%s: %+v, want %d expected and restored", tbl, c, want)
		}
	}
	mc := rec.MetricsCheck
	if mc == nil || mc.Date != day || !mc.MatchesManifest || !mc.MatchesPushed || len(mc.Differences) != 0 {
		t.Fatalf("metrics_check %+v", mc)
	}
	if pushed.TotalBills == 0 || res.Verify.Day["total_bills"] != pushed.TotalBills || res.Verify.Day["net_revenue"] != pushed.NetRevenue {
		t.Errorf("recomputed %v, pushed %+v: the day should have bills and equal figures", res.Verify.Day, pushed)
	}
	f.scratchGone(t, res.Verify.Database)
}

// TestDrillReportsFiguresChangedAfterThePush: a refund entered after the
// day's document was pushed changes the day; the drill passes (the
// restore matches the manifest) and reports the difference.
func TestDrillReportsFiguresChangedAfterThePush(t *testing.T) {
	pg, _, url := backuptest.NewBranchDB(t, 300)
	_ = pg
	srv := testenv.StartS3(t)
	f := fixture{pg: pg, source: url, st: srv.Store(t)}
	env := backuptest.Env(url, t.TempDir(), srv)
	env[options.EnvTimezone] = "Asia/Kolkata"
	f.opts = backuptest.Options(t, env)
	f.pushDay(t)
	if _, err := backuptest.Connect(t, url).Exec(context.Background(),
		"INSERT INTO refunds (bill_id, refunded_at, method, amount, cgst, sgst) SELECT id, '2026-02-02 20:00+05:30', 'cash', 1000, 0, 0 FROM bills WHERE status = 'paid' ORDER BY id LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	r, err := backup.New(f.opts, f.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Now = func() time.Time { return backupAt }
	if f.res, err = r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.drill(t, f.opts, nil); err != nil {
		t.Fatalf("drill: %v", err)
	}
	mc := f.storedRecord(t).MetricsCheck
	if mc == nil || !mc.MatchesManifest || mc.MatchesPushed || !containsAll(mc.Differences, "refund_amount: restored", "pushed") {
		t.Fatalf("metrics_check %+v: want a match with the manifest and a refund_amount difference from the pushed document", mc)
	}
}

func containsAll(list []string, subs ...string) bool {
	joined := strings.Join(list, "\n")
	for _, s := range subs {
		if !strings.Contains(joined, s) {
			return false
		}
	}
	return true
}

// TestDrillFails: each way a backup can fail its drill is a failed drill,
// with a record that says why, and no scratch database left behind.
func TestDrillFails(t *testing.T) {
	cases := []struct {
		name      string
		encrypted bool
		spoil     func(t *testing.T, f fixture, o *options.Options, ids *[]age.Identity)
		wantErr   string
		check     func(t *testing.T, rec drill.Record)
	}{
		{
			name: "tampered cloud object",
			spoil: func(t *testing.T, f fixture, _ *options.Options, _ *[]age.Identity) {
				ctx := context.Background()
				rc, info, err := f.st.Get(ctx, f.res.Key)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(rc)
				rc.Close()
				body[len(body)/2] ^= 0xff
				if _, err := f.st.Put(ctx, f.res.Key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body)), Metadata: info.Metadata}); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "checksum mismatch",
		},
		{
			name: "manifest count edited in the bucket",
			spoil: func(t *testing.T, f fixture, _ *options.Options, _ *[]age.Identity) {
				editManifest(t, f, func(m *manifest.Manifest) { m.Tables["public.bills"]++ })
			},
			wantErr: "public.bills: restored 300 rows, the manifest says 301",
			check: func(t *testing.T, rec drill.Record) {
				c := rec.Tables["public.bills"]
				if c.Expected == nil || c.Restored == nil || *c.Expected != 301 || *c.Restored != 300 {
					t.Errorf("public.bills: %+v, want expected 301, restored 300", c)
				}
			},
		},
		{
			name: "manifest figure edited in the bucket",
			spoil: func(t *testing.T, f fixture, _ *options.Options, _ *[]age.Identity) {
				editManifest(t, f, func(m *manifest.Manifest) { m.Day.Figures["gross_revenue"] += 100 })
			},
			wantErr: "gross_revenue: restored",
			check: func(t *testing.T, rec drill.Record) {
				if mc := rec.MetricsCheck; mc == nil || mc.MatchesManifest {
					t.Errorf("metrics_check %+v, want matches_manifest false", mc)
				}
			},
		},
		{
			name: "role without CREATEDB",
			spoil: func(t *testing.T, f fixture, o *options.Options, _ *[]age.Identity) {
				if err := f.pg.Exec(context.Background(), "postgres", "CREATE ROLE drill_nocreatedb LOGIN NOCREATEDB"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = f.pg.Exec(context.Background(), "postgres", "DROP ROLE drill_nocreatedb") })
				o.DatabaseURL = strings.Replace(f.source, "://"+testenv.Superuser+"@", "://drill_nocreatedb@", 1)
				if o.DatabaseURL == f.source {
					t.Fatalf("could not swap the role in %s", f.source)
				}
			},
			wantErr: "lacks CREATEDB",
		},
		{
			name:      "wrong identity file",
			encrypted: true,
			spoil: func(t *testing.T, _ fixture, _ *options.Options, ids *[]age.Identity) {
				other, _ := age.GenerateX25519Identity()
				*ids = []age.Identity{other}
			},
			wantErr: "identity did not match any of the recipients",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := backedUp(t, tc.encrypted)
			o := f.opts
			var ids []age.Identity
			if f.id != nil {
				ids = []age.Identity{f.id}
			}
			tc.spoil(t, f, &o, &ids)
			res, err := f.drill(t, o, ids)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("drill: %v, want an error containing %q", err, tc.wantErr)
			}
			rec := f.storedRecord(t)
			if rec.OK || !strings.Contains(rec.Error, tc.wantErr) || rec.BackupKey != f.res.Key {
				t.Fatalf("record ok=%v error=%q backup=%s, want a failure naming %q", rec.OK, rec.Error, rec.BackupKey, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, rec)
			}
			f.scratchGone(t, res.Verify.Database)
		})
	}
}

// editManifest rewrites the manifest in the bucket.
func editManifest(t *testing.T, f fixture, edit func(*manifest.Manifest)) {
	t.Helper()
	ctx := context.Background()
	key, _ := layout.ManifestKey(f.res.Key)
	rc, _, err := f.st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	m, err := manifest.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(&m)
	body, _ := json.Marshal(m)
	if _, err := f.st.Put(ctx, key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
}

// TestDrillIntoOperatorDatabase: with VERIFY_DATABASE_URL the drill
// restores into the operator's empty database and empties it again; a
// database holding tables is refused untouched; --no-record writes nothing.
func TestDrillIntoOperatorDatabase(t *testing.T) {
	f := backedUp(t, false)
	o := f.opts
	ctx := context.Background()
	for _, sql := range []string{"CREATE ROLE drill_owner LOGIN", "CREATE DATABASE drill_db OWNER drill_owner"} {
		if err := f.pg.Exec(ctx, "postgres", sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = f.pg.Exec(ctx, "postgres", "DROP DATABASE drill_db WITH (FORCE)")
		_ = f.pg.Exec(ctx, "postgres", "DROP ROLE drill_owner")
	})
	// A superuser is refused before anything is restored: emptying the
	// database afterwards would reach the system's own objects.
	o.VerifyDatabaseURL = f.pg.URL("drill_db")
	if _, err := restoredrill.Run(ctx, o, f.st, restoredrill.Request{
		VerifyRequest: restore.VerifyRequest{ScratchURL: o.VerifyDatabaseURL}, NoRecord: true,
	}, nil, drillAt); err == nil || !strings.Contains(err.Error(), "superuser") {
		t.Fatalf("drill into a superuser's database: %v", err)
	}
	o.VerifyDatabaseURL = strings.Replace(o.VerifyDatabaseURL, "://"+testenv.Superuser+"@", "://drill_owner@", 1)
	res, err := restoredrill.Run(context.Background(), o, f.st, restoredrill.Request{
		VerifyRequest: restore.VerifyRequest{ScratchURL: o.VerifyDatabaseURL}, NoRecord: true,
	}, nil, drillAt)
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if !res.Record.OK || res.RecordKey != "" {
		t.Fatalf("record %+v at %q, want ok and not written", res.Record, res.RecordKey)
	}
	key, _ := layout.DrillKey(o.BranchID, drillAt)
	if _, err := f.st.Stat(context.Background(), key); !store.IsNotFound(err) {
		t.Errorf("--no-record: %s exists (%v)", key, err)
	}
	var n int
	if err := backuptest.Connect(t, o.VerifyDatabaseURL).QueryRow(context.Background(),
		"SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname NOT IN ('pg_catalog', 'information_schema') AND s.nspname NOT LIKE 'pg_toast%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the operator's database holds %d relations after the drill, want none", n)
	}

	backuptest.Fill(t, o.VerifyDatabaseURL, 5) // as drill_owner
	_, err = restoredrill.Run(context.Background(), o, f.st, restoredrill.Request{
		VerifyRequest: restore.VerifyRequest{ScratchURL: o.VerifyDatabaseURL}, NoRecord: true,
	}, nil, drillAt)
	if err == nil || !strings.Contains(err.Error(), options.EnvVerifyDatabaseURL) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("drill into a database with tables: %v", err)
	}
	if got := liveCount(t, o.VerifyDatabaseURL, "bills"); got != 5 {
		t.Errorf("the refused database has %d bills, want its 5", got)
	}
}
