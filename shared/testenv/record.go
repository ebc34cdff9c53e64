package testenv

import (
	"net/http"
	"slices"
	"sync"
)

// RecordedRequest is what an S3 server was asked: the method, the path,
// the raw query and the request headers.
type RecordedRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
}

// RequestLog records every request that passes its middleware, so that a
// test can assert what the real server received (headers sent, no DELETE).
type RequestLog struct {
	mu   sync.Mutex
	reqs []RecordedRequest
}

// Middleware records each request, then hands it on untouched.
func (l *RequestLog) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, RecordedRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Requests returns the recorded requests, oldest first, those matching
// keep (all when keep is nil).
func (l *RequestLog) Requests(keep func(RecordedRequest) bool) []RecordedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	if keep == nil {
		return slices.Clone(l.reqs)
	}
	var out []RecordedRequest
	for _, r := range l.reqs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Methods counts the recorded requests per HTTP method.
func (l *RequestLog) Methods() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, r := range l.reqs {
		out[r.Method]++
	}
	return out
}
