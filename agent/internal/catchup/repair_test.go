package catchup_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// multipartETags makes every listing answer an ETag of the multipart kind
// (not an MD5 of the bytes), as a server may: the catch-up must then read
// the objects back rather than trust or distrust the ETag.
func multipartETags(next http.Handler) http.Handler {
	etag := regexp.MustCompile(`(<ETag>(?:&#34;|&quot;|")?[0-9a-f]+)`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !r.URL.Query().Has("prefix") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := etag.ReplaceAll(rec.Body.Bytes(), []byte("${1}-1"))
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// The catch-up compares what the bucket holds with the stored summaries:
// a document overwritten with garbage (of another size, or of the very
// same size) or with another valid document is pushed again; the others
// get no request beyond the one listing.
func TestMetricsCatchUpRepairsOverwrittenDocuments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mw       func(http.Handler) http.Handler
		wantGets int // reads beyond the listing: ETags that are MD5s settle it
		// wantConflicts: documents of another instance noticed
		wantConflicts int64
	}{
		{"md5 etags", nil, 0, 1},
		// Every document of the right size is read back: the 12 that are
		// not the two of another size.
		{"multipart etags", multipartETags, 12, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := setup(t, 30)
			s := newSummarizer(t, pool, "")
			var log testenv.RequestLog
			opts := []testenv.S3Option{testenv.WithMiddleware(log.Middleware)}
			if tc.mw != nil {
				opts = append(opts, testenv.WithMiddleware(tc.mw))
			}
			srv := testenv.StartS3(t, opts...)
			st := srv.Store(t)
			p, err := push.New(branch, st, t.TempDir(), discard())
			if err != nil {
				t.Fatal(err)
			}
			p.Instance = "pos-1/0123456789abcdef"
			if res, err := catchup.Metrics(ctx, s, p, 14, discard()); err != nil || len(res.Done) != 14 {
				t.Fatalf("first catch-up pushed %v (%v)", res.Done, err)
			}
			want := map[string][]byte{}
			for _, d := range bucketDates(t, st) {
				want[d] = get(t, st, d)
			}
			other, _, _, err := s.Document(ctx, day("2026-02-09"))
			if err != nil {
				t.Fatal(err)
			}
			other.BranchName = "Another agent's name"
			valid, err := other.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			sameSize := bytes.Repeat([]byte("x"), len(want["2026-02-10"]))
			// 9 and 11 Feb are written by another agent instance (same
			// BRANCH_ID): its valid document, and bytes equal to ours.
			elsewhere := map[string]string{instance.MetadataKey: "pos-2/fedcba9876543210"}
			for d, o := range map[string]struct {
				body []byte
				meta map[string]string
			}{
				"2026-02-08": {[]byte("{garbage"), nil},
				"2026-02-09": {valid, elsewhere},
				"2026-02-10": {sameSize, nil},
				"2026-02-11": {want["2026-02-11"], elsewhere}, // the same bytes again: nothing to repair
			} {
				put(t, st, d, o.body, o.meta)
			}
			before := len(log.Requests(nil))

			res, err := catchup.Metrics(ctx, s, p, 14, discard())
			if err != nil {
				t.Fatal(err)
			}
			reqs := log.Requests(nil)[before:]
			var puts []string
			gets := 0
			for _, r := range reqs {
				switch {
				case r.Method == http.MethodPut:
					puts = append(puts, strings.TrimSuffix(filepath.Base(r.Path), ".json"))
				case r.Method == http.MethodGet && !strings.Contains(r.RawQuery, "prefix"):
					gets++
				}
			}
			sort.Strings(puts)
			if strings.Join(puts, " ") != "2026-02-08 2026-02-09 2026-02-10" || strings.Join(res.Done, " ") != "2026-02-08 2026-02-09 2026-02-10" {
				t.Errorf("PUTs %v, done %v: want exactly the three overwritten dates", puts, res.Done)
			}
			if gets != tc.wantGets {
				t.Errorf("%d reads of objects, want %d", gets, tc.wantGets)
			}
			// The other instance's document of the 9th is seen by the
			// push's look before replacing it; its identical one of the
			// 11th only where the catch-up reads it back.
			if got := p.Conflicts(); got != tc.wantConflicts {
				t.Errorf("%d documents of another instance noticed, want %d", got, tc.wantConflicts)
			}
			for d, body := range want {
				if got := get(t, st, d); !bytes.Equal(got, body) {
					t.Errorf("%s holds %q after the catch-up, want the stored summary's document", d, got)
				}
			}

			before = len(log.Requests(nil))
			if res, err := catchup.Metrics(ctx, s, p, 14, discard()); err != nil || len(res.Done) != 0 {
				t.Errorf("a second catch-up pushed %v (%v), want nothing", res.Done, err)
			}
			if n := log.Methods()[http.MethodPut] - countPuts(log.Requests(nil)[:before]); n != 0 {
				t.Errorf("a second catch-up sent %d PUTs", n)
			}
		})
	}
}

func countPuts(reqs []testenv.RecordedRequest) int {
	n := 0
	for _, r := range reqs {
		if r.Method == http.MethodPut {
			n++
		}
	}
	return n
}

// In local-only mode a file overwritten with same-size garbage is read
// back and rewritten.
func TestMetricsCatchUpRepairsLocalFiles(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, 3)
	s := newSummarizer(t, pool, "")
	dir := t.TempDir()
	p, err := push.New(branch, nil, dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catchup.Metrics(ctx, s, p, 7, discard()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "metrics", "2026-02-14.json")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte(" "), len(good)), 0o640); err != nil {
		t.Fatal(err)
	}
	res, err := catchup.Metrics(ctx, s, p, 7, discard())
	if err != nil || strings.Join(res.Done, " ") != "2026-02-14" {
		t.Errorf("pushed %v (%v), want 2026-02-14 only", res.Done, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, good) {
		t.Errorf("file holds %q, want it repaired", got)
	}
}

func get(t *testing.T, st store.Store, date string) []byte {
	t.Helper()
	rc, _, err := st.Get(context.Background(), branch+"/metrics/"+date+".json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, st store.Store, date string, body []byte, meta map[string]string) {
	t.Helper()
	if _, err := st.Put(context.Background(), branch+"/metrics/"+date+".json", bytes.NewReader(body),
		store.PutOptions{Size: int64(len(body)), ContentType: "application/json", Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}
