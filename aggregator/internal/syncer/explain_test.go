package syncer_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestExplainInWords: the line shown for a failed sync says what could
// not be done and why, in words, for failures made by real servers; the
// SDK's request ids never reach it.
func TestExplainInWords(t *testing.T) {
	deny := &atomic.Bool{}
	deny.Store(true)
	denied := testenv.StartS3(t, testenv.WithMiddleware(fixture.DenyAccess(deny)))
	plain := testenv.StartS3(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		name string
		opts func() store.S3Options
		want string
	}{
		{"access denied", denied.Options, "cannot list the bucket salon-backups: access denied"},
		{"no such bucket", func() store.S3Options { o := plain.Options(); o.Bucket = "no-such-bucket"; return o },
			"cannot list the bucket no-such-bucket: the bucket does not exist"},
		{"connection refused", func() store.S3Options { o := plain.Options(); o.Endpoint = "http://" + closed; return o },
			"cannot list the bucket salon-backups: connection refused by " + closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts()
			o.MaxAttempts = 1
			st, err := store.NewS3(o)
			if err != nil {
				t.Fatal(err)
			}
			s := syncer.New(st, syncer.Options{BucketName: o.Bucket, Now: func() time.Time { return time.Now() }})
			_, _, err = s.Sync(context.Background(), nil, true)
			if err == nil {
				t.Fatal("the sync succeeded")
			}
			got := syncer.Explain(err)
			if got != tt.want {
				t.Errorf("Explain = %q, want %q (error: %v)", got, tt.want, err)
			}
			if strings.Contains(got, "RequestID") || strings.Contains(got, "HostID") || strings.Contains(got, fixture.DeniedRequestID) {
				t.Errorf("the line carries SDK ids: %q", got)
			}
		})
	}
}
