package syncer_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestRequestDeadline: each listing page and each download has its own
// deadline, so an answer that stalls after its headers and 10 bytes fails
// that request (named in words) instead of holding the sync.
func TestRequestDeadline(t *testing.T) {
	srv := testenv.StartS3(t)
	direct := srv.Store(t)
	for d := range 3 {
		fixture.PutDoc(t, direct, fixture.Doc("andheri", fixture.Date("2026-02-14", d), int64(d)))
	}
	proxy := fixture.StartStallProxy(t, srv.URL)
	st := proxy.S3Store(t, srv)
	const limit = 300 * time.Millisecond
	s := syncer.New(st, syncer.Options{Concurrency: 4, RequestTimeout: limit, BucketName: srv.Bucket,
		Now: func() time.Time { return time.Date(2026, 2, 17, 12, 0, 0, 0, time.UTC) }})

	tests := []struct {
		name  string
		stall func(*http.Request) bool
		want  string
	}{
		{"download", func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/andheri/metrics/2026-02-15.json")
		}, "cannot read andheri/metrics/2026-02-15.json: no complete answer within 300ms"},
		{"listing", func(r *http.Request) bool { return r.URL.Query().Has("list-type") },
			"cannot list the bucket salon-backups: no complete answer within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.Stall(tt.stall)
			defer proxy.Stall(nil)
			stalled := proxy.Stalled.Load()
			began := time.Now()
			_, _, err := s.Sync(context.Background(), nil, true)
			took := time.Since(began)
			if err == nil {
				t.Fatal("a sync through a stalled answer succeeded")
			}
			if proxy.Stalled.Load() == stalled {
				t.Fatal("nothing was stalled")
			}
			// Three reads of a document, each within the deadline, plus
			// slack for a loaded machine.
			if took > 20*time.Second {
				t.Errorf("the sync took %s with a %s request deadline", took, limit)
			}
			if got := syncer.Explain(err); got != tt.want {
				t.Errorf("Explain = %q, want %q (error: %v)", got, tt.want, err)
			}
		})
	}
}
