package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// ServeS3 runs a standalone S3-protocol server on addr until ctx ends: data
// in memory when dir is "", else written through to files under dir (kept across runs).
// ready, when not nil, receives the listening address once serving.
func ServeS3(ctx context.Context, addr, dir, bucket string, ready chan<- string) error {
	var backend gofakes3.Backend
	if dir == "" {
		backend = s3mem.New()
	} else {
		b, err := OpenPersistentBackend(dir)
		if err != nil {
			return fmt.Errorf("open %s: %w", dir, err)
		}
		defer b.Close()
		backend = b
	}
	h, err := NewS3Handler(backend, bucket)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	if ready != nil {
		ready <- l.Addr().String()
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
