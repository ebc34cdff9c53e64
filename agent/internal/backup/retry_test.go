package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// scaledStore is an S3 store for srv whose request-level backoff is the
// product's shape (1 s doubling to 30 s) scaled down by 50, logging to logs.
func scaledStore(t *testing.T, srv *testenv.S3Server, mutate func(*store.S3Options), logs io.Writer) *store.S3 {
	t.Helper()
	o := srv.Options()
	o.BackoffBase, o.MaxBackoff = 20*time.Millisecond, 600*time.Millisecond
	o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	if mutate != nil {
		mutate(&o)
	}
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// countDumps makes the runner count the pg_dump processes it starts.
func countDumps(r *backup.Runner) *atomic.Int64 {
	var n atomic.Int64
	r.OnDumpStart = func(int) { n.Add(1) }
	return &n
}

// TestOutageAtTheStartOfBackup: every request answers 503 for the first
// stretch of the run (60 s in production, scaled with the backoff). The
// bucket check waits it out before the dump starts; exactly one dump is
// made and its upload is confirmed; each retry is logged.
func TestOutageAtTheStartOfBackup(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 200)
	var down atomic.Bool
	down.Store(true)
	srv := testenv.StartS3(t, testenv.WithMiddleware(outage(&down)))
	logs := &syncBuffer{}
	st := scaledStore(t, srv, nil, logs)
	r, _, _ := newRunner(t, backuptest.Env(url, t.TempDir(), srv), st)
	dumps := countDumps(r)
	var dumpedDuringOutage atomic.Bool
	r.OnDumpStart = func(int) { dumps.Add(1); dumpedDuringOutage.Store(down.Load()) }
	ctx := jobretry.WithRetrier(context.Background(), jobretry.New(jobretry.For(10*time.Minute), nil, nil))
	time.AfterFunc(1200*time.Millisecond, func() { down.Store(false) })
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, logs)
	}
	if n := dumps.Load(); n != 1 {
		t.Fatalf("%d dumps made, want exactly 1", n)
	}
	if dumpedDuringOutage.Load() {
		t.Error("the dump started while the bucket was down: the check did not wait")
	}
	info, err := st.Stat(ctx, res.Key)
	if err != nil || !backup.Confirmed(info) || info.Metadata["sha256"] != res.SHA256 {
		t.Fatalf("object: %+v %v", info, err)
	}
	if !strings.Contains(logs.String(), `"msg":"S3 request failed, retrying","op":"ListObjectsV2"`) ||
		!strings.Contains(logs.String(), `"attempt":1,"of":10,"retry_in"`) {
		t.Errorf("no retry log line with attempt and wait:\n%s", logs)
	}
}

// TestUploadRetriedNeverDumpedAgain: the bucket answers the check, then
// fails every upload until the job-level retry's first wait (one minute,
// on a fake clock) has passed; the upload is tried again with the same,
// already checked dump.
func TestUploadRetriedNeverDumpedAgain(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 200)
	var down atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(outage(&down)))
	logs := &syncBuffer{}
	st := scaledStore(t, srv, func(o *store.S3Options) { o.MaxAttempts = 2 }, logs)
	dir := t.TempDir()
	r, _, runLogs := newRunner(t, backuptest.Env(url, dir, srv), st)
	dumps := countDumps(r)
	r.OnDumpStart = func(int) { dumps.Add(1); down.Store(true) } // the outage starts with the dump
	clock := clockwork.NewFakeClock()
	rt := jobretry.New(jobretry.For(4*time.Hour), clock, slog.New(slog.NewJSONHandler(logs, nil)))
	var retries []string
	rt.OnRetry = func(step string, attempt int, wait time.Duration, err error) {
		retries = append(retries, fmt.Sprintf("%s #%d %s", step, attempt, wait))
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := clock.BlockUntilContext(ctx, 1); err != nil { // the retry's wait
			return
		}
		down.Store(false)
		clock.Advance(time.Minute)
	}()
	res, err := r.Run(jobretry.WithRetrier(context.Background(), rt))
	if err != nil {
		t.Fatalf("backup: %v\n%s\n%s", err, logs, runLogs)
	}
	if n := dumps.Load(); n != 1 {
		t.Fatalf("%d dumps made, want exactly 1", n)
	}
	if got := dumpsIn(t, dir); len(got) != 1 {
		t.Fatalf("local dumps %v, want one", got)
	}
	if strings.Join(retries, "|") != "upload #1 1m0s" {
		t.Errorf("retries %q, want one of the upload after one minute", retries)
	}
	if !strings.Contains(logs.String(), `"msg":"step failed, retrying","step":"upload","attempt":1,"retry_in":"1m0s"`) {
		t.Errorf("no job retry log line:\n%s", logs)
	}
	info, err := st.Stat(context.Background(), res.Key)
	if err != nil || !backup.Confirmed(info) || info.Metadata["sha256"] != res.SHA256 {
		t.Fatalf("object: %+v %v", info, err)
	}
}

// TestPermanentErrorsFoundBeforeTheDump: a missing bucket and a key
// refused outside its prefix fail the backup before pg_dump starts, with
// one request (no retry at either level) and an error in words.
func TestPermanentErrorsFoundBeforeTheDump(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 50)
	onlyOtherBranch := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("x-amz-request-id", "REQ42")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>not under branch-other/</Message><RequestId>REQ42</RequestId></Error>`)
		})
	}
	cases := []struct {
		name   string
		mw     func(http.Handler) http.Handler
		bucket string
		want   string
	}{
		{"missing bucket", nil, "salon-backups-typo", "bucket salon-backups-typo does not exist (NoSuchBucket)"},
		{"key refused outside its prefix", onlyOtherBranch, "", "may not do this in bucket salon-backups (AccessDenied)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []testenv.S3Option
			if tc.mw != nil {
				opts = append(opts, testenv.WithMiddleware(tc.mw))
			}
			srv := testenv.StartS3(t, opts...)
			logs := &syncBuffer{}
			st := scaledStore(t, srv, func(o *store.S3Options) {
				if tc.bucket != "" {
					o.Bucket = tc.bucket
				}
			}, logs)
			dir := t.TempDir()
			r, _, _ := newRunner(t, backuptest.Env(url, dir, srv), st)
			dumps := countDumps(r)
			clock := clockwork.NewFakeClock() // a retry would wait on it forever
			ctx := jobretry.WithRetrier(context.Background(), jobretry.New(jobretry.For(4*time.Hour), clock, nil))
			_, err := r.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !jobretry.Permanent(err) {
				t.Fatalf("backup error %v, want %q (permanent)", err, tc.want)
			}
			for _, n := range []string{"REQ42", "RequestID", "https response error", "operation error"} {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q carries SDK detail %q", err, n)
				}
			}
			if dumps.Load() != 0 || len(dumpsIn(t, dir)) != 0 {
				t.Error("the dump was made before the bucket was checked")
			}
			if n := srv.Requests.Load(); n != 1 {
				t.Errorf("%d requests, want the one check", n)
			}
		})
	}
}

// TestBackupAgainstAnEndpointThatNeverAnswers: each attempt of the bucket
// check stalls until the stall timeout; the run logs each attempt, gives
// up in bounded time with an error in words, and makes no dump.
func TestBackupAgainstAnEndpointThatNeverAnswers(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 50)
	hole := testenv.BlackHole(t)
	srv := testenv.StartS3(t)
	logs := &syncBuffer{}
	st := scaledStore(t, srv, func(o *store.S3Options) {
		o.Endpoint = hole
		o.MaxAttempts, o.StallTimeout = 3, 300*time.Millisecond
	}, logs)
	dir := t.TempDir()
	r, _, _ := newRunner(t, backuptest.Env(url, dir, srv), st)
	dumps := countDumps(r)
	began := time.Now()
	_, err := r.Run(jobretry.WithRetrier(context.Background(), jobretry.New(jobretry.For(0), nil, nil)))
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), "did not answer in time (timeout), after 3 attempts") {
		t.Fatalf("backup error: %v", err)
	}
	if took > 30*time.Second {
		t.Errorf("gave up after %s", took)
	}
	if n := strings.Count(logs.String(), `"msg":"S3 request failed, retrying"`); n != 2 {
		t.Errorf("%d retry lines, want 2:\n%s", n, logs)
	}
	if dumps.Load() != 0 {
		t.Error("a dump was made against a dead endpoint")
	}
}

// TestLockedTableFailsTheDump: with bills locked ACCESS EXCLUSIVE, pg_dump
// gives up after its lock wait timeout instead of hanging the backup.
func TestLockedTableFailsTheDump(t *testing.T) {
	_, _, url := backuptest.NewBranchDB(t, 50)
	lockBills(t, url)
	dir := t.TempDir()
	r, _, _ := newRunner(t, backuptest.Env(url, dir, nil), nil)
	r.LockWaitTimeout = time.Second
	began := time.Now()
	_, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "waiting 1s for a table that another session holds locked") ||
		!strings.Contains(err.Error(), "LOCK TABLE public.bills") {
		t.Fatalf("backup error: %v", err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("failed after %s", took)
	}
	assertNoTemp(t, dir)
	if got := dumpsIn(t, dir); len(got) != 0 {
		t.Errorf("dumps %v after a failed dump", got)
	}
}

// TestOneShotErrorsInWords: `agent backup` against a missing bucket ends
// with one line naming the operation, the key and the cause, before any
// dump, with no retry; the SDK's own text is in the log at debug level
// only. A wrong database password is not retried by push-metrics either.
func TestOneShotErrorsInWords(t *testing.T) {
	pg, db, _ := backuptest.NewBranchDB(t, 50)
	srv := testenv.StartS3(t)
	dir := t.TempDir()
	run := func(extra map[string]string, args ...string) (int, string) {
		t.Helper()
		env := backuptest.Env(pg.URL(db), dir, srv)
		maps.Copy(env, extra)
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), args, &stdout, &stderr, config.MapLookup(env))
		return code, stderr.String()
	}
	wantLine := "agent backup: backup: check bucket access: list branch-test/: bucket salon-backups-typo does not exist (NoSuchBucket): check BACKUP_S3_BUCKET"
	for _, level := range []string{"info", "debug"} {
		code, stderr := run(map[string]string{"BACKUP_S3_BUCKET": "salon-backups-typo", "LOG_LEVEL": level}, "backup")
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 1 || lines[len(lines)-1] != wantLine {
			t.Fatalf("LOG_LEVEL=%s: exit %d, last line %q, want %q", level, code, lines[len(lines)-1], wantLine)
		}
		sdk := strings.Contains(stderr, "RequestID:")
		if sdk != (level == "debug") {
			t.Errorf("LOG_LEVEL=%s: SDK detail in the output: %v\n%s", level, sdk, stderr)
		}
		if strings.Contains(stderr, `failed, retrying"`) || strings.Contains(stderr, "dump started") {
			t.Errorf("LOG_LEVEL=%s: retried or dumped:\n%s", level, stderr)
		}
	}
	if got := dumpsIn(t, dir); len(got) != 0 {
		t.Errorf("dumps %v", got)
	}
	if code, stderr := run(nil, "backup", "--retry-for", "-1m"); code != 2 || !strings.Contains(stderr, "--retry-for") {
		t.Errorf("negative --retry-for: exit %d, %s", code, stderr)
	}

	badURL := pg.CreatePasswordUser(t, db, "oneshot_pw", "right-password")
	badURL = strings.Replace(badURL, "right-password", "wrong-password", 1)
	code, stderr := run(map[string]string{"DATABASE_URL": badURL}, "push-metrics", "--date", "2026-02-10")
	if code != 1 || !strings.Contains(stderr, "password authentication failed") || strings.Contains(stderr, "step failed, retrying") {
		t.Errorf("push-metrics with a wrong password: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "retrying cannot cure") {
		t.Errorf("the permanent error is not named as such:\n%s", stderr)
	}
}
