package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// failPuts answers the first n uploads (PUT requests) with status, or cuts
// the connection when status is 0; it counts the faults it caused.
func failPuts(n int64, status int, faults *atomic.Int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && faults.Load() < n {
				faults.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				if status == 0 {
					if hj, ok := w.(http.Hijacker); ok {
						if c, _, err := hj.Hijack(); err == nil {
							_ = c.Close()
							return
						}
					}
				}
				w.WriteHeader(status)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestS3TransientFailuresAreRetried(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 200)
	cases := []struct {
		name   string
		faults int64
		status int
	}{
		{"503 three times", 3, http.StatusServiceUnavailable},
		{"500 twice", 2, http.StatusInternalServerError},
		{"connection cut twice", 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var faults atomic.Int64
			srv := testenv.StartS3(t, testenv.WithMiddleware(failPuts(tc.faults, tc.status, &faults)))
			st := backuptest.FastStore(t, srv, 6)
			r, _, logs := newRunner(t, backuptest.Env(url, t.TempDir(), srv), st)
			res, err := r.Run(context.Background())
			if err != nil {
				t.Fatalf("backup: %v\n%s", err, logs)
			}
			if got := faults.Load(); got != tc.faults {
				t.Fatalf("the server failed %d uploads, want %d", got, tc.faults)
			}
			info, err := st.Stat(context.Background(), res.Key)
			if err != nil || !backup.Confirmed(info) || info.Metadata["sha256"] != res.SHA256 {
				t.Fatalf("object after retries: %+v, %v", info, err)
			}
		})
	}
}

// outage makes the server answer 503 to everything while down is set.
func outage(down *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestS3DownThenCatchUp: with the bucket down from the dump on (the check
// before it passed) the dump is kept locally, the run fails and retention
// does not run; the next run
// uploads both dumps, replacing a wrong-sized object left under the first
// one's key.
func TestS3DownThenCatchUp(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 200)
	var down atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(outage(&down)))
	st := backuptest.FastStore(t, srv, 2)
	dir := t.TempDir()
	r, clk, logs := newRunner(t, backuptest.Env(url, dir, srv), st)
	r.Instance = "pos-1/0123456789abcdef"
	old := placeOldDump(t, dir, clk.Now().AddDate(0, 0, -30))
	ctx := context.Background()

	r.OnDumpStart = func(int) { down.Store(true) }
	first, err := r.Run(ctx)
	r.OnDumpStart = nil
	if err == nil {
		t.Fatal("backup succeeded with the bucket down")
	}
	if first.Uploaded || first.Path == "" {
		t.Fatalf("first run: %+v", first)
	}
	if got := dumpsIn(t, dir); !slices.Equal(got, []string{old, dumpName(t, clk.Now())}) {
		t.Fatalf("dumps after the failed upload: %v (the new dump must stay, the old one too)", got)
	}
	if !strings.Contains(logs.String(), `"msg":"backup failed"`) {
		t.Fatal("no failure log line")
	}

	down.Store(false)
	// A stray object of the wrong size under the first dump's key.
	firstKey := backupKey(t, clk.Now(), false)
	if _, err := st.Put(ctx, firstKey, bytes.NewReader([]byte("truncated")), store.PutOptions{Size: 9}); err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(24 * time.Hour))
	second, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	// The old placeholder is no archive: set aside, never uploaded, not
	// counted (or pruned) by retention.
	wantCaught := []string{dumpName(t, clk.Now().Add(-24*time.Hour))}
	if !slices.Equal(second.CaughtUp, wantCaught) {
		t.Fatalf("caught up %v, want %v", second.CaughtUp, wantCaught)
	}
	if !strings.Contains(logs.String(), "pg_restore cannot read a local dump: renamed, not uploaded") {
		t.Error("the unreadable local dump was not reported")
	}
	if _, err := st.Stat(ctx, backuptest.Branch+"/backups/"+old); !store.IsNotFound(err) {
		t.Errorf("the unreadable local dump reached the bucket: %v", err)
	}
	if _, err := os.Stat(dir + "/" + old + backup.UnreadableExt); err != nil {
		t.Errorf("the unreadable dump was not renamed %s%s: %v", old, backup.UnreadableExt, err)
	}
	if got, err := backup.ListUnreadable(dir, backuptest.Branch, time.UTC); err != nil || !slices.Equal(got, []string{old + backup.UnreadableExt}) {
		t.Errorf("ListUnreadable = %v, %v", got, err)
	}
	for _, d := range []string{wantCaught[0], dumpName(t, clk.Now())} {
		key := backuptest.Branch + "/backups/" + d
		info, err := st.Stat(ctx, key)
		if err != nil || !backup.Confirmed(info) {
			t.Fatalf("%s not confirmed in the bucket: %+v %v", key, info, err)
		}
		sum, err := backup.ReadChecksum(dir + "/" + d)
		if err != nil || info.Metadata["sha256"] != sum {
			t.Fatalf("%s: bucket sha256 %s, local %s (%v)", key, info.Metadata["sha256"], sum, err)
		}
		if info.Metadata["pg-server-version"] == "" || info.Metadata["pg-dump-version"] == "" {
			t.Errorf("%s: metadata lacks the versions: %v", key, info.Metadata)
		}
		if info.Metadata["instance"] != r.Instance {
			t.Errorf("%s: metadata instance %q, want %q", key, info.Metadata["instance"], r.Instance)
		}
	}
	if got := dumpsIn(t, dir); slices.Contains(got, old) || len(got) != 2 {
		t.Fatalf("local dumps after the second run: %v, want the two real ones only", got)
	}
}

// blockUpload holds the first upload request of a dump until the client
// goes away, telling started when it arrived.
func blockUpload(started chan<- struct{}, armed *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/backups/") && armed.CompareAndSwap(true, false) {
				started <- struct{}{}
				// The server notices a closed connection only once the body was read.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestCancelStopsBackup: cancelling the context kills a running pg_dump
// and removes its file, or aborts an upload in flight.
func TestCancelStopsBackup(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 200)
	cases := []struct {
		name      string
		during    string // "dump" or "upload"
		wantPromo bool   // the local dump got its final name
	}{
		{"during pg_dump", "dump", false},
		{"during the upload", "upload", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			var armed atomic.Bool
			armed.Store(tc.during == "upload")
			srv := testenv.StartS3(t, testenv.WithMiddleware(blockUpload(started, &armed)))
			st := srv.Store(t)
			dir := t.TempDir()
			r, clk, _ := newRunner(t, backuptest.Env(url, dir, srv), st)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var dumpPID atomic.Int64
			if tc.during == "dump" {
				release := lockBills(t, url)
				defer release()
				r.OnDumpStart = func(pid int) {
					dumpPID.Store(int64(pid))
					go func() {
						if err := waitDumpBlocked(t, url); err != nil {
							t.Error(err)
						}
						started <- struct{}{}
					}()
				}
			}
			go func() {
				<-started
				cancel()
			}()
			res, err := r.Run(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("backup: %v, want cancelled", err)
			}
			if pid := dumpPID.Load(); pid != 0 && processExists(int(pid)) {
				t.Errorf("pg_dump (pid %d) still runs", pid)
			}
			assertNoTemp(t, dir)
			wantDumps := []string(nil)
			if tc.wantPromo {
				wantDumps = []string{dumpName(t, clk.Now())}
			}
			if got := dumpsIn(t, dir); !slices.Equal(got, wantDumps) {
				t.Errorf("dumps %v, want %v", got, wantDumps)
			}
			if res.Uploaded {
				t.Error("a cancelled backup claims an upload")
			}
			if keys := objectKeys(t, st, backuptest.Branch+"/"); len(keys) > 0 {
				t.Errorf("objects after a cancelled backup: %v", keys)
			}
		})
	}
}

// processExists reports whether pid is a live (not yet reaped) process.
func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
