package cli

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

// refuseDeletes answers every delete as a B2 key without deleteFiles does.
func refuseDeletes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete || r.Method == http.MethodPost && r.URL.Query().Has("delete") {
			http.Error(w, "<Error><Code>AccessDenied</Code><Message>not entitled</Message></Error>", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestAppendOnlyBucket: with BACKUP_S3_OBJECT_LOCK_DAYS and
// BACKUP_CLOUD_RETENTION=bucket, `agent backup` uploads the dump with the
// object-lock headers (and Content-MD5), and `agent cleanup` succeeds with
// a key that cannot delete, sending no DELETE.
func TestAppendOnlyBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := testenv.PG(t)
	var rec testenv.RequestLog
	srv := testenv.StartS3(t, testenv.WithMiddleware(rec.Middleware), testenv.WithMiddleware(refuseDeletes))
	env := map[string]string{
		"DATABASE_URL": pg.URL(pg.CreateDatabase(t)), "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir(),
		"BACKUP_MIN_SIZE_BYTES": "1", "BACKUP_S3_OBJECT_LOCK_DAYS": "30", "BACKUP_CLOUD_RETENTION": "bucket",
	}
	maps.Copy(env, srv.Env())
	before := time.Now()
	if r := agent(t, ctx, env, "backup"); r.code != 0 {
		t.Fatalf("agent backup: %d\n%s", r.code, r.stderr)
	}
	puts := rec.Requests(func(r testenv.RecordedRequest) bool {
		return r.Method == http.MethodPut && strings.Contains(r.Path, "/branch-andheri/backups/") && strings.HasSuffix(r.Path, ".dump")
	})
	if len(puts) != 1 {
		t.Fatalf("%d dump uploads, want 1", len(puts))
	}
	h := puts[0].Header
	if got := h.Get("X-Amz-Object-Lock-Mode"); got != "COMPLIANCE" {
		t.Errorf("x-amz-object-lock-mode = %q", got)
	}
	until, err := time.Parse(time.RFC3339, h.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	if want := before.Add(30 * 24 * time.Hour); err != nil || until.Before(want.Add(-time.Minute)) || until.After(want.Add(5*time.Minute)) {
		t.Errorf("x-amz-object-lock-retain-until-date = %q (%v), want about %s", h.Get("X-Amz-Object-Lock-Retain-Until-Date"), err, want.UTC().Format(time.RFC3339))
	}
	if h.Get("Content-Md5") == "" {
		t.Error("the locked upload has no Content-MD5")
	}

	r := agent(t, ctx, env, "cleanup")
	if r.code != 0 {
		t.Fatalf("agent cleanup with a key that cannot delete: %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "BACKUP_CLOUD_RETENTION=bucket: the agent deleted nothing") {
		t.Errorf("cleanup output: %q", r.stdout)
	}
	if n := rec.Methods()[http.MethodDelete]; n != 0 {
		t.Errorf("the server received %d DELETE requests", n)
	}
}

// TestUnreadableDumpsOnMetrics: dumps set aside as unreadable show on the
// daemon's /metrics.
func TestUnreadableDumpsOnMetrics(t *testing.T) {
	pg := testenv.PG(t)
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": pg.URL(pg.CreateDatabase(t)), "BRANCH_ID": "branch-andheri", "BACKUP_DIR": dir,
		"AGENT_LISTEN": "127.0.0.1:0"}
	a := startAgent(t, env, clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 10, 0, 0, 0, time.UTC)))
	defer a.stop(t)
	url := "http://" + a.d.Addr() + "/metrics"
	if m := httpBody(t, url); !strings.Contains(m, "branchwatch_agent_unreadable_dumps 0\n") {
		t.Fatalf("/metrics lacks the unreadable dumps at 0:\n%s", m)
	}
	for _, name := range []string{"branch-andheri_20260210_220000.dump.unreadable", "branch-andheri_20260211_220000.dump.unreadable",
		"branch-bandra_20260211_220000.dump.unreadable"} { // another branch's is not counted
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if m := httpBody(t, url); !strings.Contains(m, "branchwatch_agent_unreadable_dumps 2\n") {
		t.Fatalf("/metrics does not count the two unreadable dumps:\n%s", m)
	}
}
