package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// flaky answers every n-th request with status (503, 500) or, when status is
// 0, cuts the connection without an answer.
func flaky(n int64, status int, count *atomic.Int64) func(http.Handler) http.Handler {
	var seq atomic.Int64
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seq.Add(1)%n == 0 {
				count.Add(1)
				if status == 0 {
					if hj, ok := w.(http.Hijacker); ok {
						if c, _, err := hj.Hijack(); err == nil {
							_ = c.Close()
							return
						}
					}
				}
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(status)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestS3RetriesTransientFailures(t *testing.T) {
	cases := []struct {
		name   string
		every  int64
		status int
	}{
		{"503 every 3rd request", 3, http.StatusServiceUnavailable},
		{"500 every 4th request", 4, http.StatusInternalServerError},
		{"connection dropped every 3rd request", 3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var faults atomic.Int64
			srv := testenv.StartS3(t, testenv.WithMiddleware(flaky(tc.every, tc.status, &faults)))
			opts := srv.Options()
			opts.MaxBackoff = 1 // retry at once: the test is about outcome, not timing
			s, err := store.NewS3(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			data := make([]byte, 19<<20)
			_, _ = rand.NewChaCha8([32]byte{5}).Read(data)
			want := sha256.Sum256(data)
			for _, size := range []int64{-1, int64(len(data))} {
				key := "flaky/backups/object.bin"
				if _, err := s.Put(ctx, key, bytes.NewReader(data), store.PutOptions{Size: size}); err != nil {
					t.Fatalf("put (size %d) failed despite retries: %v", size, err)
				}
				rc, _, err := s.Get(ctx, key)
				if err != nil {
					t.Fatalf("get: %v", err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if sha256.Sum256(got) != want {
					t.Fatalf("sha256 differs after retried upload (%d bytes back)", len(got))
				}
			}
			if faults.Load() == 0 {
				t.Fatal("no fault was injected: the test proves nothing")
			}
			t.Logf("%d faults injected, %d requests", faults.Load(), srv.Requests.Load())
		})
	}
}
