package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// refuse answers every request outside allowed (a key prefix, "" for none)
// with an S3 error document carrying a request id and a host id, as AWS
// and B2 do.
func refuse(status int, code, allowed string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			target := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"+testenv.S3Bucket), "/") + r.URL.Query().Get("prefix")
			if allowed != "" && strings.HasPrefix(target, allowed) {
				next.ServeHTTP(w, r)
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("x-amz-request-id", "REQ0123456789")
			w.Header().Set("x-amz-id-2", "HOSTID0123456789")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused by test</Message><RequestId>REQ0123456789</RequestId><HostId>HOSTID0123456789</HostId></Error>`, code)
		})
	}
}

// sdkNoise is text a user-facing error must not carry.
var sdkNoise = []string{"REQ0123456789", "HOSTID0123456789", "RequestID", "HostID", "https response error", "operation error", "api error"}

func TestS3PermanentErrorsInWords(t *testing.T) {
	cases := []struct {
		name   string
		status int
		code   string
		bucket string // "" the server's bucket
		want   []string
	}{
		{"missing bucket", 0, "", "salon-backups-typo", []string{"list branch-x/: ", "bucket salon-backups-typo does not exist (NoSuchBucket)", "BACKUP_S3_BUCKET"}},
		{"key refused", 403, "AccessDenied", "", []string{"list branch-x/: ", "BACKUP_S3_ACCESS_KEY may not do this", "(AccessDenied)"}},
		{"unknown key", 403, "InvalidAccessKeyId", "", []string{"BACKUP_S3_ACCESS_KEY", "(InvalidAccessKeyId)"}},
		{"wrong secret", 403, "SignatureDoesNotMatch", "", []string{"BACKUP_S3_SECRET_KEY", "(SignatureDoesNotMatch)"}},
		{"wrong region", 400, "AuthorizationHeaderMalformed", "", []string{"BACKUP_S3_REGION", "(AuthorizationHeaderMalformed)"}},
		{"moved bucket", 301, "PermanentRedirect", "", []string{"BACKUP_S3_REGION", "(PermanentRedirect)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []testenv.S3Option
			if tc.code != "" {
				opts = append(opts, testenv.WithMiddleware(refuse(tc.status, tc.code, "")))
			}
			srv := testenv.StartS3(t, opts...)
			o := srv.Options()
			if tc.bucket != "" {
				o.Bucket = tc.bucket
			}
			logs := &lockedBuffer{}
			o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			st, err := store.NewS3(o)
			if err != nil {
				t.Fatal(err)
			}
			err = store.CheckAccess(context.Background(), st, "branch-x/")
			if err == nil {
				t.Fatal("access check passed")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			for _, n := range sdkNoise {
				if strings.Contains(msg, n) {
					t.Errorf("error %q carries SDK detail %q", msg, n)
				}
			}
			if !store.Permanent(err) {
				t.Errorf("%q is not classed permanent", msg)
			}
			if got := srv.Requests.Load(); got != 1 {
				t.Errorf("%d requests: a permanent error was retried", got)
			}
			if tc.code != "" && !strings.Contains(logs.String(), "REQ0123456789") {
				t.Errorf("the debug log lacks the request id:\n%s", logs)
			}
			if strings.Contains(logs.String(), "retrying") {
				t.Errorf("a permanent error was logged as retried:\n%s", logs)
			}
		})
	}
}

// TestS3KeyRefusedOutsideItsPrefix: a key restricted to branch-a/ works
// there and is refused, permanently and in words, under branch-b/.
// TestListErrorNamesWhatWasListed: a refused listing names its prefix,
// and a listing of the whole bucket reads "list: ..." (it read "list : ..."
// with the empty prefix, shown on the dashboard behind "list the bucket").
func TestListErrorNamesWhatWasListed(t *testing.T) {
	srv := testenv.StartS3(t, testenv.WithMiddleware(refuse(http.StatusForbidden, "AccessDenied", "")))
	st, err := store.NewS3(srv.Options())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, prefix, want string }{
		{"whole bucket", "", "list: the key BACKUP_S3_ACCESS_KEY may not do this in bucket " + testenv.S3Bucket + " (AccessDenied)"},
		{"one prefix", "branch-x/", "list branch-x/: the key BACKUP_S3_ACCESS_KEY may not do this in bucket " + testenv.S3Bucket + " (AccessDenied)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.List(context.Background(), store.ListOptions{Prefix: tc.prefix})
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestS3KeyRefusedOutsideItsPrefix(t *testing.T) {
	srv := testenv.StartS3(t, testenv.WithMiddleware(refuse(403, "AccessDenied", "branch-a/")))
	st := srv.Store(t)
	ctx := context.Background()
	if err := store.CheckAccess(ctx, st, "branch-a/"); err != nil {
		t.Fatalf("own prefix: %v", err)
	}
	err := store.CheckAccess(ctx, st, "branch-b/")
	if err == nil || !store.Permanent(err) || !strings.Contains(err.Error(), "(AccessDenied)") {
		t.Fatalf("other prefix: %v", err)
	}
}

// retryLine is one "S3 request failed, retrying" log record.
type retryLine struct {
	Msg     string `json:"msg"`
	Attempt int    `json:"attempt"`
	Of      int    `json:"of"`
	RetryIn string `json:"retry_in"`
	Op      string `json:"op"`
	Error   string `json:"error"`
}

func retryLines(t *testing.T, logs string) []retryLine {
	t.Helper()
	var out []retryLine
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var r retryLine
		if json.Unmarshal([]byte(l), &r) == nil && r.Msg == "S3 request failed, retrying" {
			out = append(out, r)
		}
	}
	return out
}

// TestS3OutageIsWaitedOut: every request answers 503 for a while (the
// 60 s outage, scaled down with the backoff); one request outlasts it,
// each retry is logged with its number and wait, and each wait lies
// between half and all of its exponential step.
func TestS3OutageIsWaitedOut(t *testing.T) {
	var down atomic.Bool
	var faults atomic.Int64
	down.Store(true)
	srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				faults.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	o := srv.Options()
	o.BackoffBase, o.MaxBackoff = 20*time.Millisecond, 300*time.Millisecond // 1 s and 30 s, scaled by 1/50 and 1/100
	logs := &lockedBuffer{}
	o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	outage := 600 * time.Millisecond
	time.AfterFunc(outage, func() { down.Store(false) })
	began := time.Now()
	if err := store.CheckAccess(context.Background(), st, "branch-x/"); err != nil {
		t.Fatalf("the request did not outlast the outage: %v\n%s", err, logs)
	}
	t.Logf("outage %s, request done after %s, %d faults", outage, time.Since(began), faults.Load())
	lines := retryLines(t, logs.String())
	if len(lines) == 0 || int64(len(lines)) != faults.Load() {
		t.Fatalf("%d retry log lines for %d faults:\n%s", len(lines), faults.Load(), logs)
	}
	b := store.Backoff{Base: o.BackoffBase, Max: o.MaxBackoff}
	for i, l := range lines {
		wait, err := time.ParseDuration(l.RetryIn)
		if err != nil || l.Attempt != i+1 || l.Of != store.DefaultS3MaxAttempts || l.Op != "ListObjectsV2" {
			t.Fatalf("retry line %d: %+v (%v)", i, l, err)
		}
		step := b.Step(l.Attempt)
		if wait < step/2-time.Millisecond || wait > step+time.Millisecond {
			t.Errorf("attempt %d waited %s, want between %s and %s", l.Attempt, wait, step/2, step)
		}
		if !strings.Contains(l.Error, "503") || strings.Contains(l.Error, "RequestID") {
			t.Errorf("retry line error %q", l.Error)
		}
	}
}

// TestBackoffShape: the request-level waits start at 1 s and double to
// 30 s, and the shortest possible sum of a request's waits outlasts a 60 s
// outage.
func TestBackoffShape(t *testing.T) {
	b := store.Backoff{Base: store.DefaultS3BackoffBase, Max: store.DefaultS3MaxBackoff}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30, 30}
	var least time.Duration
	for i, w := range want {
		if got := b.Step(i + 1); got != w*time.Second {
			t.Errorf("step %d = %s, want %s", i+1, got, w*time.Second)
		}
		for range 20 {
			d, _ := b.BackoffDelay(i+1, nil)
			if d < w*time.Second/2 || d > w*time.Second {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", i+1, d, w*time.Second/2, w*time.Second)
			}
		}
		least += w * time.Second / 2
	}
	if len(want) != store.DefaultS3MaxAttempts-1 || least <= time.Minute {
		t.Fatalf("%d attempts wait at least %s in all: a 60 s outage is not outlasted", store.DefaultS3MaxAttempts, least)
	}
}

// TestS3EndpointThatNeverAnswers: each attempt ends at the stall timeout,
// each retry is logged, and the call fails in bounded time with an error
// in words.
func TestS3EndpointThatNeverAnswers(t *testing.T) {
	srv := testenv.StartS3(t) // only for its options
	o := srv.Options()
	o.Endpoint = testenv.BlackHole(t)
	o.MaxAttempts, o.BackoffBase, o.MaxBackoff, o.StallTimeout = 3, 10*time.Millisecond, 20*time.Millisecond, 300*time.Millisecond
	logs := &lockedBuffer{}
	o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"list", "put"} {
		began := time.Now()
		if op == "list" {
			err = store.CheckAccess(context.Background(), st, "branch-x/")
		} else {
			_, err = st.Put(context.Background(), "branch-x/agent/status.json", strings.NewReader("{}"), store.PutOptions{Size: 2})
		}
		took := time.Since(began)
		if err == nil {
			t.Fatalf("%s: succeeded against a black hole", op)
		}
		if !strings.Contains(err.Error(), "did not answer in time (timeout), after 3 attempts") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q", op, err)
		}
		// Three stalls of 0.3 s and two short waits; 20 s is a safety net
		// for a loaded machine, far below "forever".
		if took < 3*o.StallTimeout || took > 20*time.Second {
			t.Errorf("%s: gave up after %s", op, took)
		}
	}
	if n := len(retryLines(t, logs.String())); n != 4 {
		t.Errorf("%d retry log lines, want 2 per call:\n%s", n, logs)
	}
}

// TestS3PresignWithRetryLogging: the retry logging does not get in the way
// of presigning (a stack without a retry loop).
func TestS3PresignWithRetryLogging(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	ctx := context.Background()
	if _, err := st.Put(ctx, "branch-x/backups/a.dump", strings.NewReader("abc"), store.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	u, err := st.PresignGet(ctx, "branch-x/backups/a.dump", time.Minute)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "abc" {
		t.Fatalf("presigned GET: %s %q", resp.Status, body)
	}
}
