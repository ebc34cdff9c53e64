package store_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestS3ObjectLockHeaders: a locked upload carries the object-lock mode and
// retain-until date to the server, single-part and multipart, and every
// request that carries bytes has a correct Content-MD5 (what S3 requires of
// locked uploads and B2 accepts) and no CRC32 checksum header (which B2
// refuses). An upload without a lock sends no lock headers.
func TestS3ObjectLockHeaders(t *testing.T) {
	until := time.Date(2027, 3, 1, 22, 0, 5, 0, time.UTC)
	const partSize = 5 << 20
	cases := []struct {
		name      string
		size      int
		lock      bool
		wantParts int // UploadPart requests; 0: a single PutObject
	}{
		{"single part, locked", 64 << 10, true, 0},
		{"multipart, locked", 2*partSize + 1234, true, 3},
		{"single part, not locked", 64 << 10, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec testenv.RequestLog
			srv := testenv.StartS3(t, testenv.WithMiddleware(rec.Middleware))
			opts := srv.Options()
			opts.PartSize = partSize
			s, err := store.NewS3(opts)
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, tc.size)
			rng := rand.NewChaCha8([32]byte{7})
			_, _ = rng.Read(body)
			po := store.PutOptions{Size: int64(len(body)), ContentType: "application/octet-stream"}
			if tc.lock {
				po.RetainUntil, po.LockMode = until, "COMPLIANCE"
			}
			key := "branch-x/backups/branch-x_20261201_220000.dump"
			if _, err := s.Put(context.Background(), key, bytes.NewReader(body), po); err != nil {
				t.Fatalf("put: %v", err)
			}

			// The request that creates the object: PUT without ?partNumber, or
			// POST ?uploads.
			creates := rec.Requests(func(r testenv.RecordedRequest) bool {
				return strings.HasSuffix(r.Path, key) && (r.Method == http.MethodPut && !strings.Contains(r.RawQuery, "partNumber") ||
					r.Method == http.MethodPost && strings.Contains(r.RawQuery, "uploads") && !strings.Contains(r.RawQuery, "uploadId"))
			})
			if len(creates) != 1 {
				t.Fatalf("%d requests created the object, want 1", len(creates))
			}
			if tc.wantParts == 0 && creates[0].Method != http.MethodPut || tc.wantParts > 0 && creates[0].Method != http.MethodPost {
				t.Fatalf("created with %s, want %s", creates[0].Method, map[bool]string{true: "POST ?uploads", false: "PUT"}[tc.wantParts > 0])
			}
			mode := creates[0].Header.Get("X-Amz-Object-Lock-Mode")
			retain := creates[0].Header.Get("X-Amz-Object-Lock-Retain-Until-Date")
			if !tc.lock {
				if mode != "" || retain != "" {
					t.Fatalf("an unlocked upload sent lock headers %q %q", mode, retain)
				}
				return
			}
			if mode != "COMPLIANCE" {
				t.Errorf("x-amz-object-lock-mode = %q, want COMPLIANCE", mode)
			}
			if got, err := time.Parse(time.RFC3339, retain); err != nil || !got.Equal(until) {
				t.Errorf("x-amz-object-lock-retain-until-date = %q, want %s", retain, until.Format(time.RFC3339))
			}

			// Every request that carries bytes has the right Content-MD5.
			carriers := rec.Requests(func(r testenv.RecordedRequest) bool { return r.Method == http.MethodPut })
			if tc.wantParts > 0 && len(carriers) != tc.wantParts {
				t.Fatalf("%d part uploads, want %d", len(carriers), tc.wantParts)
			}
			for i, r := range carriers {
				part := body
				if tc.wantParts > 0 {
					q, _ := url.ParseQuery(r.RawQuery)
					n, err := strconv.Atoi(q.Get("partNumber"))
					if err != nil || n < 1 || n > tc.wantParts {
						t.Fatalf("request %d: part number %q", i, q.Get("partNumber"))
					}
					part = body[(n-1)*partSize : min(n*partSize, len(body))]
				}
				sum := md5.Sum(part)
				if got, want := r.Header.Get("Content-Md5"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
					t.Errorf("request %d (%s ?%s): Content-MD5 %q, want %q", i, r.Method, r.RawQuery, got, want)
				}
				for h := range r.Header {
					if strings.HasPrefix(strings.ToLower(h), "x-amz-checksum") || strings.EqualFold(h, "x-amz-sdk-checksum-algorithm") {
						t.Errorf("request %d sent %s (B2 refuses CRC32 checksum headers)", i, h)
					}
				}
			}
		})
	}
}
