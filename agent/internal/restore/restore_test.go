package restore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cloudclean"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// countGets counts object downloads from the backups folder.
func countGets(n *atomic.Int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/backups/") {
				n.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// fixture is a branch database that was backed up once.
type fixture struct {
	pg     *testenv.Postgres
	source string // URL of the branch database
	opts   options.Options
	st     store.Store
	gets   *atomic.Int64
	res    backup.Result
}

// backedUp fills a branch database and backs it up (to a loopback bucket
// when s3 is set; age-encrypted to recipient when that is set).
func backedUp(t *testing.T, s3 bool, recipient string) fixture {
	t.Helper()
	pg, _, url := backuptest.NewBranchDB(t, 300)
	f := fixture{pg: pg, source: url, gets: &atomic.Int64{}}
	var srv *testenv.S3Server
	if s3 {
		srv = testenv.StartS3(t, testenv.WithMiddleware(countGets(f.gets)))
		f.st = srv.Store(t)
	}
	env := backuptest.Env(url, t.TempDir(), srv)
	if recipient != "" {
		env[options.EnvEncryptionRecipients] = recipient
	}
	f.opts = backuptest.Options(t, env)
	r, err := backup.New(f.opts, f.st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if f.res, err = r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// emptyDB creates an empty database and returns its URL.
func (f fixture) emptyDB(t *testing.T) string {
	t.Helper()
	return f.pg.URL(f.pg.CreateDatabase(t))
}

func TestRestoreRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		s3          bool
		recipient   string
		removeLocal bool // make the restore download the object
		password    bool // restore as a role that must give a password
		byName      bool // ask for the dump by its plain file name, not the latest
		wantOrigin  string
		wantGets    int64
	}{
		{name: "downloaded from the bucket", s3: true, removeLocal: true, password: true, wantOrigin: restore.OriginBucket, wantGets: 1},
		{name: "identical local copy used", s3: true, wantOrigin: restore.OriginLocalCopy, wantGets: 0},
		{name: "encrypted, asked for by its plain name", s3: true, recipient: id.Recipient().String(), removeLocal: true, byName: true, wantOrigin: restore.OriginBucket, wantGets: 1},
		{name: "local only", wantOrigin: restore.OriginLocal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := backedUp(t, tc.s3, tc.recipient)
			if tc.removeLocal {
				if err := os.Remove(f.res.Path); err != nil {
					t.Fatal(err)
				}
			}
			f.gets.Store(0)
			target := f.emptyDB(t)
			if tc.password {
				db := target[strings.LastIndex(target, "/")+1 : strings.Index(target, "?")]
				target = f.pg.CreatePasswordUser(t, db, "restorer_pw", "Rest0re-pw")
			}
			var progress bytes.Buffer
			req := restore.Request{TargetURL: target, Identities: []age.Identity{id}, Progress: &progress}
			if tc.byName {
				req.Key = f.res.Name
			}
			res, err := restore.Run(context.Background(), f.opts, f.st, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Origin != tc.wantOrigin || res.SHA256 != f.res.SHA256 || res.Name != f.res.Name {
				t.Fatalf("restored %s from %s (sha256 %s), want %s from %s (sha256 %s)", res.Name, res.Origin, res.SHA256, f.res.Name, tc.wantOrigin, f.res.SHA256)
			}
			if got := f.gets.Load(); got != tc.wantGets {
				t.Errorf("%d downloads, want %d", got, tc.wantGets)
			}
			if len(res.Tables) != len(backuptest.Tables) {
				t.Errorf("restored tables %v", res.Tables)
			}
			backuptest.SameRows(t, backuptest.Snapshot(t, target), backuptest.Snapshot(t, f.source))
			if tc.wantGets > 0 && !strings.Contains(progress.String(), "100%") {
				t.Errorf("no progress to 100%%: %q", progress.String())
			}
			if strings.Contains(progress.String(), "Rest0re-pw") {
				t.Error("the password is in the progress output")
			}
			if entries, _ := os.ReadDir(f.opts.BackupDir); hasPrefix(entries, ".restore-") {
				t.Error("the download directory was left behind")
			}
		})
	}
}

func hasPrefix(entries []os.DirEntry, p string) bool {
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), p) {
			return true
		}
	}
	return false
}

// TestRestoreIntoNonEmptyTarget: refused without Yes (target untouched),
// replaced with it.
func TestRestoreIntoNonEmptyTarget(t *testing.T) {
	f := backedUp(t, true, "")
	target := f.emptyDB(t)
	backuptest.Fill(t, target, 20) // different rows in the same tables
	before := backuptest.Snapshot(t, target)
	ctx := context.Background()

	_, err := restore.Run(ctx, f.opts, f.st, restore.Request{TargetURL: target}, nil)
	if !errors.Is(err, restore.ErrTargetNotEmpty) || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("restore into a non-empty target: %v, want a refusal naming --yes", err)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, target), before)

	if _, err := restore.Run(ctx, f.opts, f.st, restore.Request{TargetURL: target, Yes: true}, nil); err != nil {
		t.Fatal(err)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, target), backuptest.Snapshot(t, f.source))
}

// TestRestoreRefusesBadBackups: a tampered object and an encrypted one
// without an identity are refused before anything reaches the target.
func TestRestoreRefusesBadBackups(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		recipient string
		tamper    bool
		key       string
		wantErr   []string
		wantIs    error
	}{
		{name: "content does not match its checksum", tamper: true,
			wantErr: []string{"checksum mismatch", "not restoring"}, wantIs: backup.ErrChecksumMismatch},
		{name: "encrypted without an identity", recipient: id.Recipient().String(),
			wantErr: []string{"age-encrypted", "--identity"}},
		{name: "no such key", key: "branch-test_20200101_000000.dump",
			wantErr: []string{"not in the bucket"}, wantIs: restore.ErrNoBackup},
		{name: "not a backup key", key: "branch-test/metrics/2026-01-01.json",
			wantErr: []string{"is not a backup key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := backedUp(t, true, tc.recipient)
			if err := os.Remove(f.res.Path); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.tamper {
				info, err := f.st.Stat(ctx, f.res.Key)
				if err != nil {
					t.Fatal(err)
				}
				rc, _, err := f.st.Get(ctx, f.res.Key)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				data[len(data)/2] ^= 0xff // one flipped byte, same size, same metadata
				if _, err := f.st.Put(ctx, f.res.Key, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Metadata: info.Metadata}); err != nil {
					t.Fatal(err)
				}
			}
			target := f.emptyDB(t)
			_, err := restore.Run(ctx, f.opts, f.st, restore.Request{TargetURL: target, Key: tc.key}, nil)
			if err == nil {
				t.Fatal("restore succeeded")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if n := tableCount(t, target); n != 0 {
				t.Errorf("the target got %d tables from a refused restore", n)
			}
		})
	}
}

func tableCount(t *testing.T, url string) int64 {
	t.Helper()
	return queryInt(t, url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
}

func TestVerify(t *testing.T) {
	cases := []struct {
		name string
		s3   bool
	}{
		{"from the bucket", true},
		{"local only", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := backedUp(t, tc.s3, "")
			if tc.s3 {
				if err := os.Remove(f.res.Path); err != nil { // verify what the bucket holds
					t.Fatal(err)
				}
			}
			// Rows added after the backup must not show in the counts.
			if _, err := backuptest.Connect(t, f.source).Exec(context.Background(), "INSERT INTO expenses (spent_on, category, amount) VALUES ('2026-03-01', 'late', 1)"); err != nil {
				t.Fatal(err)
			}
			res, err := restore.Verify(context.Background(), f.opts, f.st, restore.VerifyRequest{
				Now: func() time.Time { return time.Date(2026, 2, 18, 3, 0, 0, 0, time.UTC) },
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(res.Database, "_verify_20260218_030000") {
				t.Errorf("scratch database %q", res.Database)
			}
			want := map[string]int64{}
			for _, tbl := range backuptest.Tables {
				want["public."+tbl] = queryInt(t, f.source, "SELECT count(*) FROM "+pgx.Identifier{tbl}.Sanitize())
			}
			want["public.expenses"]-- // the late row
			if len(res.Tables) != len(want) {
				t.Fatalf("counted %v, want %v", res.Tables, want)
			}
			for _, tc := range res.Tables {
				if want[tc.Table] != tc.Rows {
					t.Errorf("%s: %d rows, want %d", tc.Table, tc.Rows, want[tc.Table])
				}
			}
			if left := queryInt(t, f.pg.URL("postgres"), "SELECT count(*) FROM pg_database WHERE datname = $1", res.Database); left != 0 {
				t.Errorf("scratch database %s still exists", res.Database)
			}
		})
	}
}

func TestVerifyWithoutBackupFails(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 10)
	srv := testenv.StartS3(t)
	o := backuptest.Options(t, backuptest.Env(url, t.TempDir(), srv))
	_, err := restore.Verify(context.Background(), o, srv.Store(t), restore.VerifyRequest{}, nil)
	if !errors.Is(err, restore.ErrNoBackup) {
		t.Fatalf("verify with an empty bucket: %v", err)
	}
}

// queryInt runs a query returning one number.
func queryInt(t *testing.T, url, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := backuptest.Connect(t, url).QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestRestoreLatestFallsBack: three newer objects under this branch's dump
// keys, with plausible sha256/size metadata but garbage inside, are skipped
// (saying so) and the newest genuine backup is restored.
func TestRestoreLatestFallsBack(t *testing.T) {
	f := backedUp(t, true, "")
	if err := os.Remove(f.res.Path); err != nil { // no identical local copy: download
		t.Fatal(err)
	}
	ctx := context.Background()
	var junk []string
	for i := 1; i <= 3; i++ {
		key, err := layout.BackupKey(f.opts.BranchID, f.res.Started.In(f.opts.Location).Add(time.Duration(i)*time.Hour), false)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(fmt.Sprintf("PGDMP garbage %d, sized and labelled like a dump", i))
		other := sha256.Sum256([]byte("something else"))
		meta := map[string]string{backup.MetaSHA256: hex.EncodeToString(other[:]), backup.MetaSize: strconv.Itoa(len(data))}
		if _, err := f.st.Put(ctx, key, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
		junk = append(junk, path.Base(key))
	}
	// The cloud sweep, months later: the genuine backup (recorded by the
	// backup run) is the one newest good backup kept; the garbage is not
	// counted and not deleted.
	swept, err := cloudclean.Run(ctx, f.opts, f.st, nil, f.res.Started.AddDate(0, 0, 200))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(swept.KeptNewest, []string{f.res.Key}) || swept.Deleted != 0 || len(swept.Unknown) != 3 {
		t.Fatalf("sweep: kept newest %v, deleted %v, unknown %v: want only %s kept, nothing deleted, the 3 garbage unknown",
			swept.KeptNewest, swept.DeletedKeys, swept.Unknown, f.res.Key)
	}

	var logs, progress bytes.Buffer
	target := f.emptyDB(t)
	res, err := restore.Run(ctx, f.opts, f.st, restore.Request{TargetURL: target, Progress: &progress}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("restore --latest: %v\n%s", err, logs.String())
	}
	if res.Key != f.res.Key || res.SHA256 != f.res.SHA256 {
		t.Fatalf("restored %s (%s), want the genuine %s", res.Key, res.SHA256, f.res.Key)
	}
	if len(res.Skipped) != 3 {
		t.Fatalf("skipped %v, want the three garbage objects", res.Skipped)
	}
	for i, name := range []string{junk[2], junk[1], junk[0]} { // newest first
		if !strings.HasPrefix(res.Skipped[i], name+": ") || !strings.Contains(res.Skipped[i], "checksum mismatch") {
			t.Errorf("skipped[%d] = %q, want %s with a checksum mismatch", i, res.Skipped[i], name)
		}
		if !strings.Contains(progress.String(), "skipping "+name) {
			t.Errorf("the progress output does not say %s was skipped:\n%s", name, progress.String())
		}
	}
	if !strings.Contains(logs.String(), "trying the next newest") {
		t.Error("the log does not say the restore fell back")
	}
	if n := tableCount(t, target); n == 0 {
		t.Error("nothing was restored")
	}
}
