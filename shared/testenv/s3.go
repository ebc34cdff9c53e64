package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/branchwatch/branchwatch/shared/store"
)

// Test credentials of the loopback S3 server (gofakes3 accepts any).
const (
	S3AccessKey = "test-access-key"
	S3SecretKey = "test-secret-key-never-logged"
	S3Bucket    = "salon-backups"
	S3Region    = "us-west-004"
)

// S3Server is gofakes3 on a loopback port, over plain HTTP (over TLS it
// stores aws-chunked framing as object data).
type S3Server struct {
	URL      string
	Bucket   string
	Backend  gofakes3.Backend
	Requests atomic.Int64 // every request the server received

	srv *httptest.Server
}

type s3Config struct {
	backend    gofakes3.Backend
	middleware []func(http.Handler) http.Handler
}

// S3Option configures StartS3.
type S3Option func(*s3Config)

// WithBackend uses b instead of a fresh in-memory backend.
func WithBackend(b gofakes3.Backend) S3Option { return func(c *s3Config) { c.backend = b } }

// WithMiddleware wraps the server's handler (fault injection, access rules).
// The first given is the outermost.
func WithMiddleware(mw func(http.Handler) http.Handler) S3Option {
	return func(c *s3Config) { c.middleware = append(c.middleware, mw) }
}

// NewS3Handler builds the S3 protocol handler over a backend and creates the
// bucket. The demo's and the benchmarks' standalone servers use it too.
func NewS3Handler(backend gofakes3.Backend, bucket string) (http.Handler, error) {
	if err := backend.CreateBucket(bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return nil, err
	}
	return gofakes3.New(backend, gofakes3.WithAutoBucket(false), gofakes3.WithTimeSkewLimit(0)).Server(), nil
}

// StartS3 starts a server with an empty bucket and stops it when the test ends.
func StartS3(tb testing.TB, opts ...S3Option) *S3Server {
	tb.Helper()
	cfg := s3Config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.backend == nil {
		cfg.backend = s3mem.New()
	}
	h, err := NewS3Handler(cfg.backend, S3Bucket)
	if err != nil {
		tb.Fatalf("s3 server: %v", err)
	}
	for i := len(cfg.middleware) - 1; i >= 0; i-- {
		h = cfg.middleware[i](h)
	}
	s := &S3Server{Bucket: S3Bucket, Backend: cfg.backend}
	inner := h
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("s3 server: %v", err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		inner.ServeHTTP(w, r)
	})}}
	s.srv.Start()
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server. Safe to call twice.
func (s *S3Server) Close() {
	if s.srv != nil {
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.srv = nil
	}
}

// Options are S3Options pointing at this server (path style).
func (s *S3Server) Options() store.S3Options {
	return store.S3Options{
		Endpoint:       s.URL,
		Bucket:         s.Bucket,
		AccessKey:      S3AccessKey,
		SecretKey:      S3SecretKey,
		Region:         S3Region,
		ForcePathStyle: true,
	}
}

// Store is an S3 store client for this server.
func (s *S3Server) Store(tb testing.TB) *store.S3 {
	tb.Helper()
	st, err := store.NewS3(s.Options())
	if err != nil {
		tb.Fatalf("s3 store: %v", err)
	}
	return st
}

// Env is the BACKUP_S3_* environment pointing at this server.
func (s *S3Server) Env() map[string]string {
	return map[string]string{
		"BACKUP_S3_ENDPOINT":         s.URL,
		"BACKUP_S3_BUCKET":           s.Bucket,
		"BACKUP_S3_ACCESS_KEY":       S3AccessKey,
		"BACKUP_S3_SECRET_KEY":       S3SecretKey,
		"BACKUP_S3_REGION":           S3Region,
		"BACKUP_S3_FORCE_PATH_STYLE": "true",
	}
}
