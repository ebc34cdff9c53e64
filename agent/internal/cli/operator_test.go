package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// readOnly answers every request but GET and HEAD as a B2 key with only
// listFiles,readFiles does.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "<Error><Code>AccessDenied</Code><Message>not entitled</Message></Error>", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// backupAt runs `agent backup` with the agent's clock at the given time.
func backupAt(t *testing.T, ctx context.Context, env map[string]string, at string) {
	t.Helper()
	if r := agent(t, ctx, with(env, FakeNowVariable, at), "backup"); r.code != 0 {
		t.Fatalf("agent backup at %s: %d\n%s", at, r.code, r.stderr)
	}
}

// TestBackupsCommand: `agent backups --json` with a read-only key lists the
// bucket's backups and the local-only one, newest first, with branch-local
// times, sizes and checksums, says which have a local copy, and gives each
// backup its newest drill record (none for the others).
func TestBackupsCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, url := backuptest.NewBranchDB(t, 50)
	srv := testenv.StartS3(t)
	dir := t.TempDir()
	env := backuptest.Env(url, dir, srv)
	backupAt(t, ctx, env, "2026-02-15T16:30:00Z") // 22:00 IST
	backupAt(t, ctx, env, "2026-02-16T16:30:00Z")
	local := backuptest.Env(url, dir, nil) // local-only: not uploaded
	backupAt(t, ctx, local, "2026-02-17T16:30:00Z")
	// The oldest is only in the bucket now; a stranger under the prefix is not a backup.
	oldest := filepath.Join(dir, "branch-test_20260215_220000.dump")
	if err := os.Remove(oldest); err != nil {
		t.Fatal(err)
	}
	st := srv.Store(t)
	if _, err := st.Put(ctx, "branch-test/backups/notes.txt", strings.NewReader("x"), store.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}

	// Drills of the 16th's backup: a failed one, then a good one; another
	// of a key that is gone; a record that does not decode.
	drilled := "branch-test/backups/branch-test_20260216_220000.dump"
	for _, d := range []drill.Record{
		{SchemaVersion: 1, BranchID: "branch-test", DrilledAt: "2026-02-17T03:00:00+05:30", BackupKey: drilled,
			BackupSHA256: strings.Repeat("a", 64), OK: false, Error: "table bills: 0 rows restored, the manifest says 50"},
		{SchemaVersion: 1, BranchID: "branch-test", DrilledAt: "2026-02-18T03:00:00+05:30", BackupKey: drilled,
			BackupSHA256: strings.Repeat("a", 64), OK: true},
		{SchemaVersion: 1, BranchID: "branch-test", DrilledAt: "2026-02-10T03:00:00+05:30",
			BackupKey: "branch-test/backups/branch-test_20260209_220000.dump", BackupSHA256: strings.Repeat("b", 64), OK: true},
	} {
		b, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		key := "branch-test/drills/" + d.DrilledAt[:10] + ".json"
		if _, err := st.Put(ctx, key, bytes.NewReader(b), store.PutOptions{Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Put(ctx, "branch-test/drills/2026-02-19.json", strings.NewReader("{not json"), store.PutOptions{Size: 9}); err != nil {
		t.Fatal(err)
	}

	ro := testenv.StartS3(t, testenv.WithBackend(srv.Backend), testenv.WithMiddleware(readOnly))
	roEnv := backuptest.Env(url, dir, ro)
	delete(roEnv, "DATABASE_URL") // listing needs no database
	r := agent(t, ctx, roEnv, "backups", "--json")
	if r.code != 0 {
		t.Fatalf("agent backups --json with a read-only key: %d\n%s", r.code, r.stderr)
	}
	var got backupsJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	want := []struct {
		name, key       string
		taken           string
		inBucket, local bool
	}{
		{"branch-test_20260217_220000.dump", "", "2026-02-17T22:00:00+05:30", false, true},
		{"branch-test_20260216_220000.dump", "branch-test/backups/branch-test_20260216_220000.dump", "2026-02-16T22:00:00+05:30", true, true},
		{"branch-test_20260215_220000.dump", "branch-test/backups/branch-test_20260215_220000.dump", "2026-02-15T22:00:00+05:30", true, false},
	}
	if len(got.Backups) != len(want) {
		t.Fatalf("%d backups listed, want %d:\n%s", len(got.Backups), len(want), r.stdout)
	}
	for i, w := range want {
		b := got.Backups[i]
		if b.Name != w.name || b.Key != w.key || b.Taken.Format(time.RFC3339) != w.taken || b.InBucket != w.inBucket || b.Local != w.local {
			t.Errorf("backup %d = %+v, want %+v", i, b, w)
		}
		if b.Encrypted || b.Size < 512 || !backup.IsSHA256(b.SHA256) || b.InBucket != b.Confirmed {
			t.Errorf("backup %d: encrypted %v, size %d, sha256 %q, confirmed %v", i, b.Encrypted, b.Size, b.SHA256, b.Confirmed)
		}
		if b.Local {
			side, err := backup.ReadChecksum(filepath.Join(dir, b.Name))
			if err != nil || side != b.SHA256 {
				t.Errorf("backup %d: sha256 %s, local checksum file %s (%v)", i, b.SHA256, side, err)
			}
		}
	}
	for i, b := range got.Backups {
		switch {
		case b.Key == drilled:
			if d := b.LastDrill; d == nil || d.Date != "2026-02-18" || !d.OK || d.Key != "branch-test/drills/2026-02-18.json" {
				t.Errorf("backup %d: last drill %+v, want the good one of 2026-02-18", i, d)
			}
		case b.LastDrill != nil:
			t.Errorf("backup %d (%s): last drill %+v, want none", i, b.Key, b.LastDrill)
		}
	}
	if raw := r.stdout; !strings.Contains(raw, `"last_drill": null`) || !strings.Contains(raw, `"branch_id": "branch-test"`) {
		t.Errorf("JSON lacks last_drill or branch_id:\n%s", raw)
	}

	// Local-only mode: the dumps on disk, no bucket.
	lo := agent(t, ctx, local, "backups", "--json")
	var loGot backupsJSON
	if err := json.Unmarshal([]byte(lo.stdout), &loGot); lo.code != 0 || err != nil {
		t.Fatalf("agent backups --json, local-only: %d %v\n%s", lo.code, err, lo.stderr)
	}
	if loGot.Bucket || len(loGot.Backups) != 2 || loGot.Backups[0].Name != "branch-test_20260217_220000.dump" || loGot.Backups[1].Key != "" || !loGot.Backups[1].Local {
		t.Errorf("local-only listing: %s", lo.stdout)
	}

	text := agent(t, ctx, roEnv, "backups")
	if text.code != 0 {
		t.Fatalf("agent backups: %d\n%s", text.code, text.stderr)
	}
	lines := strings.Split(strings.TrimSpace(text.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "TAKEN") ||
		!regexp.MustCompile(`^2026-02-17 22:00:00 \+05:30 .* no +yes +- +.*not in the bucket`).MatchString(lines[2]) ||
		!regexp.MustCompile(`^2026-02-16 22:00:00 \+05:30 .* no +yes +2026-02-18 ok +branch-test/backups/`).MatchString(lines[3]) ||
		!strings.Contains(lines[4], "branch-test/backups/branch-test_20260215_220000.dump") {
		t.Errorf("agent backups table:\n%s", text.stdout)
	}
}

// TestBackupsCommandEncrypted: an encrypted upload is listed as such, with
// the stored object's checksum and the plain dump's, which is the local
// copy's; after encryption is turned on a night uploaded both ways is two
// objects, both listed.
func TestBackupsCommandEncrypted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, url := backuptest.NewBranchDB(t, 30)
	srv := testenv.StartS3(t)
	dir := t.TempDir()
	env := backuptest.Env(url, dir, srv)
	backupAt(t, ctx, env, "2026-02-16T16:30:00Z")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	backupAt(t, ctx, with(env, "BACKUP_ENCRYPTION_RECIPIENTS", id.Recipient().String()), "2026-02-17T16:30:00Z")
	r := agent(t, ctx, env, "backups", "--json")
	if r.code != 0 {
		t.Fatalf("agent backups --json: %d\n%s", r.code, r.stderr)
	}
	var got backupsJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range got.Backups {
		keys = append(keys, b.Key)
		if !b.Local || !b.Confirmed {
			t.Errorf("%s: local %v, confirmed %v", b.Key, b.Local, b.Confirmed)
		}
		side, err := backup.ReadChecksum(filepath.Join(dir, b.Name))
		if err != nil {
			t.Fatal(err)
		}
		if enc := strings.HasSuffix(b.Key, ".age"); b.Encrypted != enc || enc && (b.PlainSHA256 != side || b.SHA256 == side) || !enc && b.SHA256 != side {
			t.Errorf("%s: encrypted %v, sha256 %s, plain_sha256 %s; the local copy's is %s", b.Key, b.Encrypted, b.SHA256, b.PlainSHA256, side)
		}
	}
	want := []string{"branch-test/backups/branch-test_20260217_220000.dump.age",
		"branch-test/backups/branch-test_20260216_220000.dump.age", "branch-test/backups/branch-test_20260216_220000.dump"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("listed %v, want %v", keys, want)
	}
}

// TestRestoreGuards: another branch's backup is refused without
// --from-branch (the target untouched) and restored with it; a non-empty
// target is listed with its row counts and replaced only with --yes
// (no terminal) or a typed "yes" (terminal).
func TestRestoreGuards(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, _, url := backuptest.NewBranchDB(t, 40)
	srv := testenv.StartS3(t)
	env := backuptest.Env(url, t.TempDir(), srv) // BRANCH_ID=branch-test
	backupAt(t, ctx, env, "2026-02-16T16:30:00Z")
	key := "branch-test/backups/branch-test_20260216_220000.dump"

	other := with(backuptest.Env(url, t.TempDir(), srv), "BRANCH_ID", "branch-powai")
	target := pg.URL(pg.CreateDatabase(t))
	for _, k := range []string{key, "branch-test_20260216_220000.dump"} {
		r := agent(t, ctx, with(other, EnvRestoreTargetURL, target), "restore", "--key", k)
		if r.code == 0 || !strings.Contains(r.stderr, "--from-branch branch-test") || !strings.Contains(r.stderr, "BRANCH_ID=branch-powai") {
			t.Fatalf("restore of another branch's %s: %d\n%s", k, r.code, r.stderr)
		}
	}
	var n int
	if err := backuptest.Connect(t, target).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused restore left %d tables in the target (%v)", n, err)
	}
	if r := agent(t, ctx, with(other, EnvRestoreTargetURL, target), "restore", "--key", key, "--from-branch", "branch-bandra"); r.code == 0 ||
		!strings.Contains(r.stderr, "--from-branch names branch-bandra") {
		t.Fatalf("restore with --from-branch naming a third branch: %d\n%s", r.code, r.stderr)
	}
	if r := agent(t, ctx, with(other, EnvRestoreTargetURL, target), "restore", "--from-branch", "branch-test", "--latest"); r.code != 0 {
		t.Fatalf("restore --from-branch branch-test --latest: %d\n%s", r.code, r.stderr)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, target), backuptest.Snapshot(t, url))

	// A non-empty target: its own branch's backup, different rows in it.
	_, _, live := backuptest.NewBranchDB(t, 7)
	before := backuptest.Snapshot(t, live)
	env = with(env, EnvRestoreTargetURL, live)
	r := agent(t, ctx, env, "restore", "--key", key)
	if r.code == 0 || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("restore into a non-empty target without --yes and without a terminal: %d\n%s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`public\.bills +7 rows`).MatchString(r.stderr) || !strings.Contains(r.stderr, "is not empty: restoring "+key+" replaces these") {
		t.Errorf("the refusal does not list the tables with their row counts:\n%s", r.stderr)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, live), before)

	terminal(t, "no\n")
	if r := agent(t, ctx, env, "restore", "--key", key, "--yes"); r.code == 0 || !strings.Contains(r.stderr, "type yes to replace them") ||
		!strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("restore answered no on a terminal: %d\n%s", r.code, r.stderr)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, live), before)
	terminal(t, "yes\n")
	if r := agent(t, ctx, env, "restore", "--key", key); r.code != 0 {
		t.Fatalf("restore answered yes on a terminal: %d\n%s", r.code, r.stderr)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, live), backuptest.Snapshot(t, url))

	notTerminal(t)
	if _, err := backuptest.Connect(t, live).Exec(ctx, "DELETE FROM refunds"); err != nil {
		t.Fatal(err)
	}
	if r := agent(t, ctx, env, "restore", "--key", key, "--yes"); r.code != 0 || !strings.Contains(r.stderr, "--yes given: replacing them") {
		t.Fatalf("restore --yes without a terminal: %d\n%s", r.code, r.stderr)
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, live), backuptest.Snapshot(t, url))
}

// terminal makes standard input a terminal that answers answer.
func terminal(t *testing.T, answer string) {
	t.Helper()
	oldIn, oldTTY := Stdin, stdinIsTerminal
	Stdin, stdinIsTerminal = strings.NewReader(answer), func() bool { return true }
	t.Cleanup(func() { Stdin, stdinIsTerminal = oldIn, oldTTY })
}

// notTerminal makes standard input a pipe holding nothing.
func notTerminal(t *testing.T) {
	t.Helper()
	oldIn, oldTTY := Stdin, stdinIsTerminal
	Stdin, stdinIsTerminal = strings.NewReader(""), func() bool { return false }
	t.Cleanup(func() { Stdin, stdinIsTerminal = oldIn, oldTTY })
}

// TestRestoreTarget: where restore restores to, and the refusals naming
// the flag or setting at fault; the password of DATABASE_URL carries over
// to --target-database and never appears in an error.
func TestRestoreTarget(t *testing.T) {
	const dbURL = "postgres://salon_user:s3cr%40t@db.example:5432/salon_db?sslmode=disable"
	cases := []struct {
		name                string
		dbURL, envURL       string
		targetURL, database string
		want, wantErr       string
	}{
		{name: "target url", dbURL: dbURL, targetURL: "postgres://u@h/x", want: "postgres://u@h/x"},
		{name: "target database", dbURL: dbURL, database: "salon_db_restored_20260217",
			want: "postgres://salon_user:s3cr%40t@db.example:5432/salon_db_restored_20260217?sslmode=disable"},
		{name: "flag beats environment", dbURL: dbURL, envURL: "postgres://u@h/env", database: "x",
			want: "postgres://salon_user:s3cr%40t@db.example:5432/x?sslmode=disable"},
		{name: "environment", envURL: "postgres://u@h/env", want: "postgres://u@h/env"},
		{name: "both flags", dbURL: dbURL, targetURL: "postgres://u@h/x", database: "x", wantErr: "--target-url and --target-database exclude each other"},
		{name: "not a name", dbURL: dbURL, database: "x/../y", wantErr: "--target-database \"x/../y\" is not a plain database name"},
		{name: "no DATABASE_URL", database: "x", wantErr: "--target-database needs DATABASE_URL"},
		{name: "nothing", dbURL: dbURL, wantErr: "--target-url, --target-database or RESTORE_TARGET_URL is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Lookup: func(k string) (string, bool) {
				if k == EnvRestoreTargetURL && tc.envURL != "" {
					return tc.envURL, true
				}
				return "", false
			}}
			env.Opts.DatabaseURL = tc.dbURL
			got, err := restoreTarget(env, tc.targetURL, tc.database)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "s3cr") {
					t.Fatalf("error %v, want one containing %q (and no password)", err, tc.wantErr)
				}
			case err != nil || got != tc.want:
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
