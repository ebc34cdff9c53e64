package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestBackupUploadsAConfirmedDump(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		s3        bool
		recipient string
	}{
		{"plain upload", true, ""},
		{"encrypted upload", true, id.Recipient().String()},
		{"local only", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, url := backuptest.NewBranchDB(t, 300)
			dir := t.TempDir()
			var srv *testenv.S3Server
			var st store.Store
			if tc.s3 {
				srv = testenv.StartS3(t)
				st = srv.Store(t)
			}
			env := backuptest.Env(url, dir, srv)
			if tc.recipient != "" {
				env["BACKUP_ENCRYPTION_RECIPIENTS"] = tc.recipient
			}
			r, clk, logs := newRunner(t, env, st)
			ctx := context.Background()
			res, err := r.Run(ctx)
			if err != nil {
				t.Fatalf("backup: %v\nlogs:\n%s", err, logs)
			}

			// The local dump: final name in branch-local time, checksum file, no temp.
			wantPath := filepath.Join(dir, dumpName(t, clk.Now()))
			if res.Path != wantPath {
				t.Fatalf("dump at %s, want %s", res.Path, wantPath)
			}
			local, err := os.ReadFile(res.Path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(local)
			if res.SHA256 != hex.EncodeToString(sum[:]) || res.Size != int64(len(local)) {
				t.Fatalf("result says %d bytes sha256 %s; file has %d bytes sha256 %x", res.Size, res.SHA256, len(local), sum)
			}
			if fi, err := os.Stat(res.Path); err != nil || fi.Mode().Perm()&0o007 != 0 {
				t.Fatalf("the dump is readable by anyone: %v %v", fi.Mode(), err)
			}
			if !bytes.HasPrefix(local, []byte("PGDMP")) {
				t.Fatalf("local dump is not a custom-format archive: %q", local[:16])
			}
			side, err := backup.ReadChecksum(res.Path)
			if err != nil || side != res.SHA256 {
				t.Fatalf("checksum file: %q, %v", side, err)
			}
			assertNoTemp(t, dir)

			if !tc.s3 {
				if res.Uploaded || res.Key != "" {
					t.Fatalf("local-only backup claims an upload: %+v", res)
				}
				clk.Set(clk.Now().Add(time.Minute))
				if _, err := r.Run(ctx); err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(logs.String(), "backups stay local"); n != 1 {
					t.Fatalf("said %d times that backups stay local, want once", n)
				}
				return
			}

			encrypted := tc.recipient != ""
			if !res.Uploaded || res.Key != backupKey(t, clk.Now(), encrypted) {
				t.Fatalf("uploaded=%v key=%s, want key %s", res.Uploaded, res.Key, backupKey(t, clk.Now(), encrypted))
			}
			rc, info, err := st.Get(ctx, res.Key)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			storedSum := sha256.Sum256(stored)
			md := info.Metadata
			if md["sha256"] != hex.EncodeToString(storedSum[:]) || md["size"] != strconv.Itoa(len(stored)) {
				t.Fatalf("metadata sha256=%s size=%s; object has sha256 %x, %d bytes", md["sha256"], md["size"], storedSum, len(stored))
			}
			if !strings.HasPrefix(md["pg-server-version"], "1") || md["agent-version"] == "" || md["pg-dump-version"] == "" {
				t.Fatalf("metadata lacks versions: %v", md)
			}
			plain := stored
			if encrypted {
				if bytes.Contains(stored, []byte("PGDMP")) || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1")) {
					t.Fatal("the encrypted object is not an age file, or holds the dump in clear")
				}
				dr, err := age.Decrypt(bytes.NewReader(stored), id)
				if err != nil {
					t.Fatal(err)
				}
				if plain, err = io.ReadAll(dr); err != nil {
					t.Fatal(err)
				}
				if md["plain-sha256"] != res.SHA256 || md["encryption"] != "age" {
					t.Fatalf("metadata plain-sha256=%s encryption=%s, want %s, age", md["plain-sha256"], md["encryption"], res.SHA256)
				}
				want, err := backup.EncryptedSize(res.Size, r.Options().EncryptionRecipients)
				if err != nil || want != int64(len(stored)) {
					t.Fatalf("EncryptedSize says %d (%v), the object has %d bytes", want, err, len(stored))
				}
			}
			if !bytes.Equal(plain, local) {
				t.Fatal("the bucket's dump differs from the local one")
			}
		})
	}
}

func TestEncryptedSizeMatchesAge(t *testing.T) {
	var recips []age.Recipient
	for range 2 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		recips = append(recips, id.Recipient())
	}
	cases := []struct {
		name string
		size int
	}{
		{"empty", 0}, {"one byte", 1}, {"one chunk less one", 64<<10 - 1}, {"one chunk", 64 << 10},
		{"one chunk plus one", 64<<10 + 1}, {"three chunks", 3 << 16}, {"a megabyte and a bit", 1<<20 + 12345},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := age.Encrypt(&buf, recips...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(make([]byte, tc.size)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := backup.EncryptedSize(int64(tc.size), recips)
			if err != nil {
				t.Fatal(err)
			}
			if got != int64(buf.Len()) {
				t.Fatalf("EncryptedSize(%d) = %d, age wrote %d", tc.size, got, buf.Len())
			}
		})
	}
}

// TestLocalRetention checks that only this branch's dumps older than the
// retention go (with their checksum files), and that stale temporary files
// of a crashed run are removed.
func TestLocalRetention(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 50)
	cases := []struct {
		name      string
		retention int
		ages      []int // days before the run of this branch's existing dumps
		wantGone  []int // the ages expected to be deleted
	}{
		{"seven days", 7, []int{1, 6, 8, 30}, []int{8, 30}},
		{"one day", 1, []int{1, 2, 3}, []int{2, 3}},
		{"nothing old enough", 60, []int{1, 30}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := backuptest.Env(url, dir, nil)
			env["BACKUP_RETENTION_DAYS"] = strconv.Itoa(tc.retention)
			r, clk, logs := newRunner(t, env, nil)
			names := map[int]string{}
			for _, a := range tc.ages {
				names[a] = placeOldDump(t, dir, clk.Now().Add(-time.Duration(a)*24*time.Hour+time.Hour))
			}
			others := []string{
				"other-branch_20200101_220000.dump", // another branch's dump, ancient
				"notes.txt",
				"branch-test_2020.dump", // does not parse
				"branch-test_20200101_220000.dump.partial",
			}
			for _, n := range others {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("keep me"), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			stale := []string{".tmp-branch-test_20200101_220000.dump", ".tmp-branch-test_20200101_220000.dump.123.age"}
			for _, n := range stale {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("crashed"), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			res, err := r.Run(context.Background())
			if err != nil {
				t.Fatalf("backup: %v\n%s", err, logs)
			}
			var wantPruned []string
			for _, a := range tc.wantGone {
				wantPruned = append(wantPruned, names[a])
			}
			slices.Sort(wantPruned)
			gotPruned := slices.Sorted(slices.Values(res.Pruned))
			if !slices.Equal(gotPruned, wantPruned) {
				t.Fatalf("pruned %v, want %v", gotPruned, wantPruned)
			}
			files := dirFiles(t, dir)
			for a, n := range names {
				gone := slices.Contains(tc.wantGone, a)
				if slices.Contains(files, n) == gone || slices.Contains(files, n+backup.ChecksumExt) == gone {
					t.Errorf("dump %d days old (%s): present=%v, want present=%v", a, n, slices.Contains(files, n), !gone)
				}
			}
			for _, n := range others {
				if !slices.Contains(files, n) {
					t.Errorf("%s was deleted: it is not this branch's dump", n)
				}
			}
			for _, n := range stale {
				if slices.Contains(files, n) {
					t.Errorf("stale temporary file %s was not removed", n)
				}
			}
			if !slices.Contains(files, filepath.Base(res.Path)) {
				t.Error("the new dump is gone")
			}
		})
	}
}
