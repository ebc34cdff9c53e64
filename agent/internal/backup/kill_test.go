package backup_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
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

// TestAgentKilledDuringUpload runs `agent backup` as a child process, kills
// it (SIGKILL) while its multipart upload is in flight, and checks that no
// object appears under the key; the next run aborts the leftover upload
// and uploads both dumps.
func TestAgentKilledDuringUpload(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 100)
	backuptest.AddBulk(t, url, 12) // a dump above one 8 MiB part
	started := make(chan struct{}, 1)
	var armed atomic.Bool
	armed.Store(true)
	srv := testenv.StartS3(t, testenv.WithMiddleware(holdParts(started, &armed)))
	st := srv.Store(t)
	dir := t.TempDir()
	env := backuptest.Env(url, dir, srv)

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
	ctx := context.Background()
	if _, err := st.Stat(ctx, killedKey); !store.IsNotFound(err) {
		t.Fatalf("object under %s after the kill: %v", killedKey, err)
	}
	if n := unfinishedUploads(t, st, backuptest.Branch+"/"); n != 1 {
		t.Fatalf("%d unfinished uploads after the kill, want 1", n)
	}

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
