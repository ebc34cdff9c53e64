package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/dirlock"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// lockBills holds an exclusive lock on bills until release, so that a
// pg_dump started meanwhile waits, mid-way, for its share lock.
func lockBills(t *testing.T, url string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE bills IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// waitDumpBlocked waits until the agent's pg_dump is connected and waiting
// for the lock that lockBills holds (the only way to observe another
// process's progress is to ask the server).
func waitDumpBlocked(t *testing.T, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'branchwatch-agent' AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("pg_dump never waited for the table lock")
		case <-tick.C:
		}
	}
}

// TestFailedDumpPromotesNothing covers dumps that must not be trusted: none
// gets the final name, nothing is uploaded, nothing is deleted, no
// temporary file stays.
func TestFailedDumpPromotesNothing(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 200)
	tooOld := filepath.Join(t.TempDir(), "pg_dump")
	if err := os.WriteFile(tooOld, []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		prepare func(t *testing.T, r *backup.Runner) (after func())
		wantErr []string
	}{
		{name: "database unreachable",
			env:     map[string]string{"DATABASE_URL": fmt.Sprintf("postgres://postgres@127.0.0.1:%d/branch?sslmode=disable", port)},
			wantErr: []string{"database unreachable"}},
		{name: "dump below the size floor",
			env:     map[string]string{"BACKUP_MIN_SIZE_BYTES": "1073741824"},
			wantErr: []string{"below the 1073741824-byte floor"}},
		{name: "pg_dump older than the server",
			env:     map[string]string{"PG_DUMP_PATH": tooOld},
			wantErr: []string{"pg_dump 9.6.24", "PostgreSQL 15", "postgresql-client-15"}},
		{name: "pg_dump killed mid-way",
			prepare: func(t *testing.T, r *backup.Runner) func() {
				release := lockBills(t, url)
				killed := make(chan error, 1)
				r.OnDumpStart = func(pid int) {
					go func() {
						err := waitDumpBlocked(t, url)
						if err == nil {
							err = syscall.Kill(pid, syscall.SIGKILL)
						}
						killed <- err
					}()
				}
				return func() {
					if err := <-killed; err != nil {
						t.Errorf("kill pg_dump: %v", err)
					}
					release()
				}
			},
			wantErr: []string{"pg_dump failed", "killed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			srv := testenv.StartS3(t)
			st := srv.Store(t)
			env := backuptest.Env(url, dir, srv)
			for k, v := range tc.env {
				env[k] = v
			}
			r, clk, logs := newRunner(t, env, st)
			old := placeOldDump(t, dir, clk.Now().AddDate(0, 0, -30))
			after := func() {}
			if tc.prepare != nil {
				after = tc.prepare(t, r)
			}
			res, err := r.Run(context.Background())
			after()
			if err == nil {
				t.Fatalf("backup succeeded: %+v", res)
			}
			t.Logf("error: %v", err)
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if got := dumpsIn(t, dir); !slices.Equal(got, []string{old}) {
				t.Errorf("dumps after a failed backup: %v, want only the old %s", got, old)
			}
			assertNoTemp(t, dir)
			if keys := objectKeys(t, st, backuptest.Branch+"/"); len(keys) > 0 {
				t.Errorf("objects uploaded by a failed backup: %v", keys)
			}
			if !strings.Contains(logs.String(), `"msg":"backup failed"`) {
				t.Errorf("no failure log line:\n%s", logs)
			}
		})
	}
}

// TestBackupWhileOneRuns holds a backup mid-way (pg_dump waiting for a
// lock), then checks what the running pg_dump shows the system (its command
// line and environment hold no password) and that a second backup is
// refused with the holder's identity.
func TestBackupWhileOneRuns(t *testing.T) {
	pg, db, _ := backuptest.NewBranchDB(t, 100)
	const password, sslPassword, s3Secret = "Sup3r-secret-pw", "Ssl-key-passphrase", "s3-Secret-of-the-agent"
	url := pg.CreatePasswordUser(t, db, "backup_pw", password) + "&sslpassword=" + sslPassword
	// What the agent's own environment holds must not reach pg_dump's.
	t.Setenv("DATABASE_URL", url)
	t.Setenv("BACKUP_S3_SECRET_KEY", s3Secret)
	t.Setenv("XDG_RUNTIME_DIR", "") // connection files under BACKUP_DIR/.pgconn
	dir := t.TempDir()
	env := backuptest.Env(url, dir, nil)
	first, _, _ := newRunner(t, env, nil)
	second, _, _ := newRunner(t, env, nil)

	release := lockBills(t, pg.URL(db))
	pids := make(chan int, 1)
	first.OnDumpStart = func(pid int) { pids <- pid }
	type outcome struct {
		res backup.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := first.Run(context.Background())
		done <- outcome{res, err}
	}()
	pid := <-pids
	if err := waitDumpBlocked(t, pg.URL(db)); err != nil {
		t.Fatal(err)
	}

	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cmdline), "pg_dump") || !strings.Contains(string(cmdline), "service=branchwatch") {
		t.Fatalf("pid %d is not our pg_dump: %q", pid, cmdline)
	}
	for what, b := range map[string][]byte{"command line": cmdline, "environment": environ} {
		for _, secret := range []string{password, sslPassword, s3Secret, "backup_pw", "DATABASE_URL=", "BACKUP_S3_"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("pg_dump's %s holds %q", what, secret)
			}
		}
	}
	for _, v := range []string{"PGPASSFILE=" + dir + "/.pgconn/conn-", "PGSERVICEFILE=" + dir + "/.pgconn/conn-"} {
		if !strings.Contains(string(environ), v) {
			t.Errorf("pg_dump's environment lacks %s...: %q", v, environ)
		}
	}

	_, err = second.Run(context.Background())
	if !errors.Is(err, dirlock.ErrLocked) {
		t.Fatalf("second backup: %v, want a lock error", err)
	}
	t.Logf("second backup: %v", err)
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "(backup)") {
		t.Errorf("lock error %q does not say who holds it (%s, backup)", err, want)
	}

	release()
	out := <-done
	if out.err != nil {
		t.Fatalf("first backup: %v", out.err)
	}
	if got := dumpsIn(t, dir); len(got) != 1 || got[0] != filepath.Base(out.res.Path) {
		t.Fatalf("dumps %v, want just %s", got, out.res.Path)
	}
}

// TestTooLittleDiskSpace: a dump that will not fit is refused before it
// starts, and a disk that fills up mid-dump gives a clear error; either way
// nothing is promoted and nothing deleted.
func TestTooLittleDiskSpace(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 100)
	cases := []struct {
		name    string
		dir     func(t *testing.T) string
		free    func(dir string) (uint64, error) // nil keeps the real statfs
		bulkMiB int
		wantErr []string
	}{
		{name: "refused before dumping", dir: func(t *testing.T) string { return t.TempDir() },
			free:    func(string) (uint64, error) { return 40 << 10, nil },
			wantErr: []string{"not enough disk space", "40.0 KiB free"}},
		{name: "disk full while dumping", dir: smallTmpfs, bulkMiB: 2,
			wantErr: []string{"not enough disk space", "is full", "nothing was promoted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			dbURL := url
			if tc.bulkMiB > 0 {
				_, _, dbURL = backuptest.NewBranchDB(t, 10)
				backuptest.AddBulk(t, dbURL, tc.bulkMiB)
			}
			r, clk, _ := newRunner(t, backuptest.Env(dbURL, dir, nil), nil)
			// An old dump of 64 KiB: retention would delete it after a success.
			old := placeOldDump(t, dir, clk.Now().AddDate(0, 0, -30))
			if err := os.WriteFile(filepath.Join(dir, old), make([]byte, 64<<10), 0o640); err != nil {
				t.Fatal(err)
			}
			if tc.free != nil {
				r.FreeSpace = tc.free
			}
			_, err := r.Run(context.Background())
			if !errors.Is(err, backup.ErrDiskSpace) {
				t.Fatalf("backup: %v, want a disk space error", err)
			}
			t.Logf("error: %v", err)
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if got := dumpsIn(t, dir); !slices.Equal(got, []string{old}) {
				t.Errorf("dumps %v, want only the old %s", got, old)
			}
			assertNoTemp(t, dir)
		})
	}
}

// smallTmpfs mounts a 320 KiB tmpfs (root only; skipped otherwise).
func smallTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=320k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill up (%v): needs root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
