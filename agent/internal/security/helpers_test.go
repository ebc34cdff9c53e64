package security_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// adminAccessKey is the access key of the bucket's owner: requests signed
// with it pass the prefix rule (the test seeds and inspects the bucket
// with it), as a B2 master key would.
const adminAccessKey = "admin-access-key"

// prefixRule answers 403 AccessDenied to every request of the restricted
// key that reaches outside prefix: object requests on other keys, listings
// (of objects or of multipart uploads) without the prefix or with another
// one, and every bucket-level call (ListBuckets, HeadBucket, location,
// batch delete). This is how Backblaze B2 treats an application key
// restricted to one bucket and one name prefix.
type prefixRule struct {
	bucket, prefix string

	mu     sync.Mutex
	denied []string
	seen   int
}

func (p *prefixRule) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accessKey(r) == adminAccessKey {
			next.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.seen++
		p.mu.Unlock()
		if why := p.outside(r); why != "" {
			p.mu.Lock()
			p.denied = append(p.denied, r.Method+" "+r.URL.RequestURI()+": "+why)
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>%s</Message></Error>`, why)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// outside says why r reaches outside the prefix, or "" when it does not.
func (p *prefixRule) outside(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	switch {
	case bucket == "":
		return "ListBuckets is not allowed for a restricted key"
	case bucket != p.bucket:
		return "bucket " + bucket + " is not allowed"
	case key != "":
		if !strings.HasPrefix(key, p.prefix) {
			return "key " + key + " is outside " + p.prefix
		}
		return ""
	}
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodGet:
		return r.Method + " on the bucket is not allowed for a restricted key"
	case q.Has("location") || q.Has("versioning") || q.Has("policy") || q.Has("acl"):
		return "bucket settings are not allowed for a restricted key"
	case !strings.HasPrefix(q.Get("prefix"), p.prefix):
		return fmt.Sprintf("listing prefix %q is outside %s", q.Get("prefix"), p.prefix)
	}
	return ""
}

// Denied lists the refused requests so far.
func (p *prefixRule) Denied() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.denied...)
}

// Seen counts the restricted key's requests so far.
func (p *prefixRule) Seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// accessKey is the access key a request is signed with (header or
// presigned query).
func accessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		if _, after, ok := strings.Cut(h, "Credential="); ok {
			cred = after
		}
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

// adminStore is a store client of srv signed with the owner's key.
func adminStore(t *testing.T, srv *testenv.S3Server) *store.S3 {
	t.Helper()
	o := srv.Options()
	o.AccessKey = adminAccessKey
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// keysUnder lists every key under prefix with st.
func keysUnder(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range store.All(context.Background(), st, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
	return out
}

// put stores body under key with st.
func put(t *testing.T, st store.Store, key string, body []byte, meta map[string]string) {
	t.Helper()
	if _, err := st.Put(context.Background(), key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body)), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

// result is one run of the agent's command line.
type result struct {
	code           int
	stdout, stderr string
}

// runAgent runs the agent's command line in-process with env (and extra
// settings over it).
func runAgent(t *testing.T, env, extra map[string]string, args ...string) result {
	t.Helper()
	e := maps.Clone(env)
	maps.Copy(e, extra)
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, &stdout, &stderr, config.MapLookup(e))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// toolRecorder puts pg_dump and pg_restore wrappers in a directory (for
// PG_DUMP_PATH): each appends its full command line to a log, then runs
// the real program with the same arguments.
type toolRecorder struct {
	Dir string
	log string
}

func newToolRecorder(t *testing.T, pg *testenv.Postgres) *toolRecorder {
	t.Helper()
	dir := t.TempDir()
	rec := &toolRecorder{Dir: dir, log: filepath.Join(dir, "argv.log")}
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		real := filepath.Join(pg.BinDir, tool)
		script := fmt.Sprintf("#!/bin/sh\n{ printf '%%s ' %q \"$@\"; echo; } >> %q\nexec %q \"$@\"\n", tool, rec.log, real)
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

// CommandLines is every recorded command line, one per line.
func (r *toolRecorder) CommandLines(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(r.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// withPassword is a copy of a postgres:// URL carrying user and password.
func withPassword(t *testing.T, raw, user, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}
