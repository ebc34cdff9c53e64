package backup_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// holdParts holds every multipart part upload while armed, telling started
// about the first one; the client's parts never arrive.
func holdParts(started chan<- struct{}, armed *atomic.Bool) func(http.Handler) http.Handler {
	var told atomic.Bool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if armed.Load() && r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
				if told.CompareAndSwap(false, true) {
					started <- struct{}{}
				}
				// Take the part but never answer: the client stays mid-upload.
				// (The server notices the client's death only after the body.)
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// startAgentBackup runs `agent backup` (this test binary acting as the
// agent) as a child process with env; exited receives its end.
func startAgentBackup(t *testing.T, env map[string]string) (*exec.Cmd, <-chan error, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "backup")
	cmd.Env = append(os.Environ(), agentMainEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, exited, logs
}

// unfinishedUploads counts multipart uploads in progress under prefix.
func unfinishedUploads(t *testing.T, st *store.S3, prefix string) int {
	t.Helper()
	out, err := st.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(st.Bucket()), Prefix: aws.String(prefix),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// killedUpload is what a backup killed mid-upload left.
type killedUpload struct {
	env   map[string]string
	st    *store.S3
	local []string // the local dumps (the killed run's)
	key   string   // the killed run's key, not in the bucket
	logs  *syncBuffer
}

// killDuringUpload runs `agent backup` as a child process and kills it
// (SIGKILL) while its multipart upload is in flight; it checks that no
// object appears under the key and that the upload stays unfinished.
func killDuringUpload(t *testing.T) killedUpload {
	t.Helper()
	_, _, url := backuptest.NewBranchDB(t, 100)
	backuptest.AddBulk(t, url, 12) // a dump above one 8 MiB part
	started := make(chan struct{}, 1)
	var armed atomic.Bool
	armed.Store(true)
	srv := testenv.StartS3(t, testenv.WithMiddleware(holdParts(started, &armed)))
	st := srv.Store(t)
	dir := t.TempDir()
	env := backuptest.Env(url, dir, srv)

	cmd, exited, logs := startAgentBackup(t, env)
	select {
	case <-started:
	case err := <-exited:
		t.Fatalf("agent exited before uploading: %v\n%s", err, logs)
	case <-time.After(2 * time.Minute):
		t.Fatalf("no part upload within 2 minutes\n%s", logs)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	armed.Store(false)

	local := dumpsIn(t, dir)
	if len(local) != 1 {
		t.Fatalf("local dumps after the kill: %v\n%s", local, logs)
	}
	killedKey := backuptest.Branch + "/backups/" + local[0]
	if _, err := st.Stat(context.Background(), killedKey); !store.IsNotFound(err) {
		t.Fatalf("object under %s after the kill: %v", killedKey, err)
	}
	if n := unfinishedUploads(t, st, backuptest.Branch+"/"); n != 1 {
		t.Fatalf("%d unfinished uploads after the kill, want 1", n)
	}
	return killedUpload{env: env, st: st, local: local, key: killedKey, logs: logs}
}

// TestUploadMissingAfterAKill: the daemon's start-up upload (UploadMissing)
// takes no dump, uploads the killed run's dump and aborts its unfinished
// upload; run again, it has nothing to do.
func TestUploadMissingAfterAKill(t *testing.T) {
	k := killDuringUpload(t)
	ctx := context.Background()
	r, _, runLogs := newRunner(t, k.env, k.st)
	done, err := r.UploadMissing(ctx)
	if err != nil {
		t.Fatalf("UploadMissing: %v\n%s", err, runLogs)
	}
	if !slices.Equal(done, k.local) {
		t.Errorf("uploaded %v, want %v", done, k.local)
	}
	if info, err := k.st.Stat(ctx, k.key); err != nil || !backup.Confirmed(info) {
		t.Errorf("%s not confirmed: %+v %v", k.key, info, err)
	}
	if n := unfinishedUploads(t, k.st, backuptest.Branch+"/"); n != 0 {
		t.Errorf("%d unfinished uploads after UploadMissing", n)
	}
	if local := dumpsIn(t, k.env["BACKUP_DIR"]); !slices.Equal(local, k.local) {
		t.Errorf("local dumps %v after UploadMissing, want %v (no new dump)", local, k.local)
	}
	if done, err := r.UploadMissing(ctx); err != nil || len(done) != 0 {
		t.Errorf("UploadMissing again: %v, %v; want nothing to do", done, err)
	}
}

// TestAgentKilledDuringUpload: after a backup killed mid-upload, the next
// run aborts the leftover upload and uploads both dumps.
func TestAgentKilledDuringUpload(t *testing.T) {
	k := killDuringUpload(t)
	env, st, local, killedKey, logs := k.env, k.st, k.local, k.key, k.logs
	ctx := context.Background()

	r, clk, runLogs := newRunner(t, env, st)
	clk.Set(time.Now().Add(time.Hour)) // a later name than the killed run's
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("next run: %v\n%s", err, runLogs)
	}
	if res.AbortedUploads != 1 {
		t.Errorf("next run aborted %d unfinished uploads, want 1", res.AbortedUploads)
	}
	if !slices.Equal(res.CaughtUp, local) {
		t.Errorf("next run caught up %v, want %v", res.CaughtUp, local)
	}
	if n := unfinishedUploads(t, st, backuptest.Branch+"/"); n != 0 {
		t.Errorf("%d unfinished uploads after the next run", n)
	}
	for _, key := range []string{killedKey, res.Key} {
		info, err := st.Stat(ctx, key)
		if err != nil || !backup.Confirmed(info) {
			t.Errorf("%s not confirmed: %+v %v", key, info, err)
		}
		if info.Size < 8<<20 {
			t.Errorf("%s is %d bytes: too small to test a multipart upload", key, info.Size)
		}
	}
	if strings.Contains(logs.String(), testenv.S3SecretKey) {
		t.Error("the agent logged the S3 secret key")
	}
}

// TestPgDumpDiesWithTheAgent runs `agent backup` as a child process with
// pg_dump waiting for a lock, kills the agent with SIGKILL, and checks that
// pg_dump dies too (Pdeathsig) and that the connection files it left (the
// passfile holds the password) are removed at the next start.
func TestPgDumpDiesWithTheAgent(t *testing.T) {
	pg, db, _ := backuptest.NewBranchDB(t, 100)
	const password = "Kill-9-secret-pw"
	url := pg.CreatePasswordUser(t, db, "killed_pw", password)
	dir := t.TempDir()
	env := backuptest.Env(url, dir, nil)
	t.Setenv("XDG_RUNTIME_DIR", "") // connection files under BACKUP_DIR/.pgconn (the child inherits this)
	release := lockBills(t, pg.URL(db))

	cmd, exited, logs := startAgentBackup(t, env)
	if err := waitDumpBlocked(t, pg.URL(db)); err != nil {
		t.Fatalf("pg_dump never waited on the lock: %v\n%s", err, logs)
	}
	dumpPID := childNamed(t, cmd.Process.Pid, "pg_dump")
	secrets, _ := filepath.Glob(filepath.Join(dir, pgtools.SecretsDirName, "conn-*", "pgpass"))
	if len(secrets) != 1 {
		t.Fatalf("passfiles while pg_dump runs: %v", secrets)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	// pg_dump got SIGKILL from the kernel when its parent died; it is gone
	// (or a zombie waiting for init to reap it) well within the deadline.
	deadline := time.Now().Add(30 * time.Second)
	for alive(dumpPID) {
		if time.Now().After(deadline) {
			t.Fatalf("pg_dump (pid %d) still runs 30 s after the agent was killed", dumpPID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(secrets[0]); err != nil {
		t.Fatalf("a SIGKILL runs no cleanup, yet the passfile is gone (%v): the test did not kill what it meant to", err)
	}

	release()
	r, clk, runLogs := newRunner(t, env, nil) // the next start sweeps
	if _, err := os.Stat(secrets[0]); !os.IsNotExist(err) {
		t.Fatalf("the killed run's passfile is still there after the next start: %v", err)
	}
	if !strings.Contains(runLogs.String(), "removed the connection files of a killed run") {
		t.Errorf("the sweep was not logged:\n%s", runLogs)
	}
	clk.Set(time.Now())
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatalf("next run: %v\n%s", err, runLogs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, pgtools.SecretsDirName, "conn-*")); len(left) != 0 {
		t.Errorf("connection files left after a finished run: %v", left)
	}
}

// childNamed returns the pid of parent's child process named name.
func childNamed(t *testing.T, parent int, name string) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if s[open+1:closing] != name || len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		return pid
	}
	t.Fatalf("no child %s of pid %d", name, parent)
	return 0
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
