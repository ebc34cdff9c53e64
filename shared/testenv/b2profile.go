package testenv

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The request profile Backblaze B2's S3 API accepts (deploy/docs/backblaze-b2.md):
// no flexible checksums (x-amz-checksum-*, x-amz-sdk-checksum-algorithm),
// no aws-chunked bodies or trailers, and none of the calls B2 lacks or a
// prefix-restricted key is refused (ListBuckets, HeadBucket).

// S3 operations as the recorder names them.
const (
	OpListBuckets          = "ListBuckets"
	OpHeadBucket           = "HeadBucket"
	OpListObjectsV2        = "ListObjectsV2"
	OpListMultipartUploads = "ListMultipartUploads"
	OpPutObject            = "PutObject"
	OpCreateMultipart      = "CreateMultipartUpload"
	OpUploadPart           = "UploadPart"
	OpCompleteMultipart    = "CompleteMultipartUpload"
	OpAbortMultipart       = "AbortMultipartUpload"
	OpGetObject            = "GetObject"
	OpPresignedGetObject   = "GetObject (presigned)"
	OpHeadObject           = "HeadObject"
	OpDeleteObject         = "DeleteObject"
	OpDeleteObjects        = "DeleteObjects"
	OpOther                = "other"
)

// B2Request is one request that went through a B2Recorder.
type B2Request struct {
	Op     string
	Method string
	Path   string
	Status int
	// Violations says how the request breaks the B2 profile ("" entries none).
	Violations []string
}

// B2Recorder is a reverse proxy in front of a real S3 server that records
// every request and checks it against the B2 profile. Point clients at
// Endpoint (plain HTTP, path-style).
type B2Recorder struct {
	Endpoint string

	srv  *httptest.Server
	mu   sync.Mutex
	reqs []B2Request
}

// RecordB2 starts a recorder in front of s (which must serve plain HTTP);
// it stops when the test ends.
func RecordB2(tb testing.TB, s *RealS3) *B2Recorder {
	tb.Helper()
	target, err := url.Parse(s.Endpoint)
	if err != nil || target.Scheme != "http" {
		tb.Fatalf("b2 recorder needs a plain-HTTP server, got %s", s.Endpoint)
	}
	rec := &B2Recorder{}
	// The client signs the Host it sends to (the recorder's); the proxy
	// keeps that Host header, so the server checks the same signature.
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a client hanging up is not news
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	rec.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Recorded before it is forwarded, its status before the answer
		// leaves: a client that has its answer finds its request here.
		rec.mu.Lock()
		i := len(rec.reqs)
		rec.reqs = append(rec.reqs, B2Request{Op: Classify(r), Method: r.Method, Path: r.URL.Path, Violations: B2Violations(r)})
		rec.mu.Unlock()
		proxy.ServeHTTP(&statusWriter{ResponseWriter: w, record: func(code int) {
			rec.mu.Lock()
			rec.reqs[i].Status = code
			rec.mu.Unlock()
		}}, r)
	})}}
	rec.srv.Start()
	rec.Endpoint = rec.srv.URL
	tb.Cleanup(rec.srv.Close)
	return rec
}

// statusWriter records the status of an answer before sending it.
type statusWriter struct {
	http.ResponseWriter
	record func(code int)
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		w.record(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Requests returns what was recorded so far.
func (r *B2Recorder) Requests() []B2Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// Ops counts the recorded requests by operation.
func (r *B2Recorder) Ops() map[string]int {
	out := map[string]int{}
	for _, q := range r.Requests() {
		out[q.Op]++
	}
	return out
}

// CheckProfile fails the test for every recorded request outside the B2
// profile, and when one of the operations in want was never seen (so that
// the check covered the flows it claims to).
func (r *B2Recorder) CheckProfile(tb testing.TB, want ...string) {
	tb.Helper()
	reqs := r.Requests()
	if len(reqs) == 0 {
		tb.Fatal("b2 recorder saw no request")
	}
	for _, q := range reqs {
		for _, v := range q.Violations {
			tb.Errorf("%s %s (%s): %s", q.Method, q.Path, q.Op, v)
		}
	}
	ops := r.Ops()
	for _, op := range want {
		if ops[op] == 0 {
			tb.Errorf("no %s request went through the recorder (saw %v)", op, ops)
		}
	}
}

// Classify names the S3 operation of a path-style request.
func Classify(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		return OpListBuckets
	case key == "" && r.Method == http.MethodHead:
		return OpHeadBucket
	case key == "" && r.Method == http.MethodGet && q.Has("uploads"):
		return OpListMultipartUploads
	case key == "" && r.Method == http.MethodGet && q.Get("list-type") == "2":
		return OpListObjectsV2
	case key == "" && r.Method == http.MethodPost && q.Has("delete"):
		return OpDeleteObjects
	case key == "":
		return OpOther
	case r.Method == http.MethodPut && q.Has("uploadId"):
		return OpUploadPart
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "":
		return OpPutObject
	case r.Method == http.MethodPost && q.Has("uploads"):
		return OpCreateMultipart
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return OpCompleteMultipart
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return OpAbortMultipart
	case r.Method == http.MethodDelete:
		return OpDeleteObject
	case r.Method == http.MethodGet && q.Has("X-Amz-Signature"):
		return OpPresignedGetObject
	case r.Method == http.MethodGet && len(q) == 0 || r.Method == http.MethodGet && q.Has("x-id"):
		return OpGetObject
	case r.Method == http.MethodHead:
		return OpHeadObject
	}
	return OpOther
}

// B2Violations lists how r breaks the B2 profile.
func B2Violations(r *http.Request) []string {
	var out []string
	for name, vals := range r.Header {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, "x-amz-checksum-"):
			out = append(out, fmt.Sprintf("header %s: %s (B2 rejects flexible checksums)", name, strings.Join(vals, ",")))
		case lower == "x-amz-sdk-checksum-algorithm":
			out = append(out, fmt.Sprintf("header %s: %s (B2 rejects flexible checksums)", name, strings.Join(vals, ",")))
		case lower == "x-amz-trailer" || lower == "trailer":
			out = append(out, fmt.Sprintf("header %s: %s (B2 takes no trailers)", name, strings.Join(vals, ",")))
		case lower == "content-encoding" && strings.Contains(strings.ToLower(strings.Join(vals, ",")), "aws-chunked"):
			out = append(out, "Content-Encoding: aws-chunked (B2 takes no chunked uploads)")
		case lower == "x-amz-content-sha256" && strings.HasPrefix(strings.Join(vals, ","), "STREAMING-"):
			out = append(out, fmt.Sprintf("header %s: %s (B2 takes no chunked signing)", name, strings.Join(vals, ",")))
		case lower == "x-amz-decoded-content-length":
			out = append(out, "header X-Amz-Decoded-Content-Length (an aws-chunked body)")
		}
	}
	if len(r.Trailer) > 0 {
		out = append(out, "the request carries an HTTP trailer")
	}
	for name := range r.URL.Query() {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum-") || strings.EqualFold(name, "x-amz-sdk-checksum-algorithm") {
			out = append(out, "query parameter "+name+" (B2 rejects flexible checksums)")
		}
	}
	switch op := Classify(r); op {
	case OpListBuckets, OpHeadBucket:
		out = append(out, op+" (B2 refuses it to a key restricted to a bucket or prefix)")
	case OpDeleteObjects:
		out = append(out, op+" (needs a checksum header; the store deletes one by one)")
	case OpOther:
		out = append(out, "an operation outside the profile: "+r.Method+" "+r.URL.RequestURI())
	}
	slices.Sort(out)
	return out
}
