package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
)

// opened is one file the dump step opened.
type opened struct {
	name string
	flag int
}

// recordOpens makes r's dump step open files through os.OpenFile, noting
// each open.
func recordOpens(r *backup.Runner) func() []opened {
	var (
		mu  sync.Mutex
		all []opened
	)
	backup.SetOpenFile(r, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		mu.Lock()
		all = append(all, opened{name, flag})
		mu.Unlock()
		return os.OpenFile(name, flag, perm)
	})
	return func() []opened { mu.Lock(); defer mu.Unlock(); return append([]opened(nil), all...) }
}

// TestDumpHashedFromTheStream: the SHA-256 a backup records (Result and
// the .sha256 file) is that of the file's bytes, and the agent opened the
// dump file once, write-only, to write pg_dump's output into it: it never
// read it back to hash it: the process read the dump's bytes once, from
// pg_dump's pipe (the kernel's count of bytes read, beside the opens the
// runner makes through its opener).
func TestDumpHashedFromTheStream(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 2000)
	backuptest.AddBulk(t, url, 2) // beyond the 1 MiB copy buffer
	dir := t.TempDir()
	r, _, _ := newRunner(t, backuptest.Env(url, dir, nil), nil)
	opens := recordOpens(r)
	readBefore := readBytes(t)
	res, err := r.Run(context.Background())
	readAfter := readBytes(t)
	if err != nil {
		t.Fatal(err)
	}
	sum, size, err := backup.HashFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum != res.SHA256 || size != res.Size {
		t.Errorf("recorded sha256 %s, %d bytes; the file hashes to %s, %d bytes", res.SHA256, res.Size, sum, size)
	}
	if size < 2<<20 {
		t.Errorf("dump is %d bytes, want more than 2 MiB (several reads of the pipe)", size)
	}
	if recorded, err := backup.ReadChecksum(res.Path); err != nil || recorded != sum {
		t.Errorf("checksum file says %q (%v), want %s", recorded, err, sum)
	}
	tmp := filepath.Join(dir, ".tmp-"+res.Name)
	got := opens()
	if len(got) != 1 || got[0].name != tmp || got[0].flag&(os.O_WRONLY|os.O_RDWR) != os.O_WRONLY {
		t.Fatalf("dump step opened %+v; want only %s, write-only", got, tmp)
	}
	// What the kernel counted: this process read the dump's bytes once
	// (from the pipe; the file was opened write-only), plus a little of
	// everything else (the database's answers, pg_restore --list's output).
	if read := readAfter - readBefore; read < size || read > size+size/2 {
		t.Errorf("the process read %d bytes during a backup of a %d-byte dump: want the dump once, not twice", read, size)
	}
}

// readBytes is the bytes this process read so far (rchar of
// /proc/self/io: every read, from files, pipes and sockets alike).
func readBytes(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("/proc/self/io has no rchar")
	return 0
}

// TestPgDumpFailingMidStream: a pg_dump that fails after part of the dump
// came through the pipe leaves no dump, no temporary file and no .sha256.
func TestPgDumpFailingMidStream(t *testing.T) {
	pg, _, url := backuptest.NewBranchDB(t, 2000)
	backuptest.AddBulk(t, url, 1)
	// A pg_dump that passes on the first 64 KiB of the real one's output,
	// then fails; pg_restore beside it is the real one.
	bin := t.TempDir()
	realDump := filepath.Join(pg.BinDir, "pg_dump")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = --version ]; then exec %q --version; fi\n%q \"$@\" | /usr/bin/head -c 65536\nexit 3\n", realDump, realDump)
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(pg.BinDir, "pg_restore"), filepath.Join(bin, "pg_restore")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := backuptest.Env(url, dir, nil)
	env["PG_DUMP_PATH"] = filepath.Join(bin, "pg_dump")
	r, _, _ := newRunner(t, env, nil)
	opens := recordOpens(r)
	res, err := r.Run(context.Background())
	if err == nil {
		t.Fatalf("backup succeeded: %+v", res)
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"pg_dump failed", "exit status 3", "after 65536 bytes of dump"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(opens()) != 1 {
		t.Errorf("dump step opened %+v, want the temporary file once", opens())
	}
	for _, f := range dirFiles(t, dir) {
		// The lock file and the (empty) directory of connection files stay.
		if f != backup.LockName && f != ".pgconn" {
			t.Errorf("left in BACKUP_DIR after a failed dump: %s", f)
		}
	}
}
