package simulation_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Access keys: the S3 server accepts any, and the fault injector tells the
// clients apart by them. The test's own checks use the owner's key and
// see no fault.
const (
	agentAccessKey      = "branch-agent-key"
	aggregatorAccessKey = "aggregator-read-key"
	ownerAccessKey      = "bucket-owner-key"
)

// faultRates are the shares of requests answered with a fault.
type faultRates struct {
	Status500, Status503 float64 // answered at once, the request unprocessed
	Drop                 float64 // connection dropped mid-body (request body or object download)
	Slow                 float64 // answered after an added delay
	SlowMax              time.Duration
}

// faultCounts are the figures of the run, per client.
type faultCounts struct {
	Requests, Status500, Status503, Dropped, Delayed, Retries atomic.Int64
	Outage                                                    atomic.Int64 // hung up on during an outage
}

func (c *faultCounts) faults() int64 {
	return c.Status500.Load() + c.Status503.Load() + c.Dropped.Load()
}

// faultyS3 injects faults into the S3 traffic of the agents and of the
// aggregator, counts them, notices the clients' retries (the same request
// again after a fault) and can hold one branch's multipart upload so that
// the test kills the agent mid-upload.
type faultyS3 struct {
	rates faultRates

	mu      sync.Mutex
	rng     *rand.Rand
	faulted map[string]bool // requests answered with a fault, not yet retried

	counts map[string]*faultCounts // by access key

	hold atomic.Pointer[uploadHold]

	outage atomic.Bool  // the agents' requests are hung up on (an S3 outage between the shops and the bucket)
	burst  atomic.Int64 // the agents' next requests answered 503 (a burst)
}

// uploadHold arms the fault injector to hold the first multipart part of
// a backup under prefix: started receives once when it arrives.
type uploadHold struct {
	prefix  string
	started chan struct{}
	once    sync.Once
}

func newFaultyS3(rates faultRates, seed uint64) *faultyS3 {
	return &faultyS3{
		rates: rates, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), faulted: map[string]bool{},
		counts: map[string]*faultCounts{agentAccessKey: {}, aggregatorAccessKey: {}, ownerAccessKey: {}},
	}
}

// Counts are the figures of one client.
func (f *faultyS3) Counts(key string) *faultCounts { return f.counts[key] }

// HoldUpload arms the hold for the next multipart part under prefix.
func (f *faultyS3) HoldUpload(prefix string) <-chan struct{} {
	h := &uploadHold{prefix: prefix, started: make(chan struct{})}
	f.hold.Store(h)
	return h.started
}

// Middleware is the fault injector, for testenv.WithMiddleware.
func (f *faultyS3) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := f.counts[accessKey(r)]
		if !ok {
			http.Error(w, "unknown access key", http.StatusForbidden)
			return
		}
		c.Requests.Add(1)
		if f.held(w, r) {
			return
		}
		if accessKey(r) == ownerAccessKey {
			next.ServeHTTP(w, r)
			return
		}
		sig := signature(r)
		if f.outage.Load() && accessKey(r) == agentAccessKey {
			f.fault(sig, &c.Outage)
			hangUp(w)
			return
		}
		if n := f.burst.Load(); n > 0 && accessKey(r) == agentAccessKey && f.burst.CompareAndSwap(n, n-1) {
			f.fault(sig, &c.Status503)
			writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "simulated 503 burst")
			return
		}
		f.mu.Lock()
		if f.faulted[sig] {
			delete(f.faulted, sig)
			c.Retries.Add(1)
		}
		p, q := f.rng.Float64(), f.rng.Float64()
		delay := time.Duration(f.rng.Int64N(int64(f.rates.SlowMax) + 1))
		f.mu.Unlock()

		hasBody := r.ContentLength > 0
		isDownload := r.Method == http.MethodGet && objectKey(r) != ""
		switch {
		case p < f.rates.Status500:
			f.fault(sig, &c.Status500)
			writeS3Error(w, http.StatusInternalServerError, "InternalError", "simulated internal error")
			return
		case p < f.rates.Status500+f.rates.Status503:
			f.fault(sig, &c.Status503)
			writeS3Error(w, http.StatusServiceUnavailable, "ServiceUnavailable", "simulated overload")
			return
		case p < f.rates.Status500+f.rates.Status503+f.rates.Drop && (hasBody || isDownload):
			f.fault(sig, &c.Dropped)
			if hasBody {
				_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength/2)
				hangUp(w)
				return
			}
			next.ServeHTTP(&truncatingWriter{ResponseWriter: w}, r)
			return
		}
		if q < f.rates.Slow {
			c.Delayed.Add(1)
			time.Sleep(delay) // the server is slow: latency, not synchronisation
		}
		next.ServeHTTP(w, r)
	})
}

func (f *faultyS3) fault(sig string, n *atomic.Int64) {
	n.Add(1)
	f.mu.Lock()
	f.faulted[sig] = true
	f.mu.Unlock()
}

// held takes the armed multipart part, tells the test and never answers:
// the agent stays mid-upload until it is killed.
func (f *faultyS3) held(_ http.ResponseWriter, r *http.Request) bool {
	h := f.hold.Load()
	if h == nil || r.Method != http.MethodPut || !r.URL.Query().Has("partNumber") || !strings.HasPrefix(objectKey(r), h.prefix) {
		return false
	}
	if !f.hold.CompareAndSwap(h, nil) {
		return false
	}
	h.once.Do(func() { close(h.started) })
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done() // the client's connection closes when it dies
	return true
}

// signature identifies a request across its retries.
func signature(r *http.Request) string {
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			q.Del(k)
		}
	}
	return accessKey(r) + " " + r.Method + " " + r.URL.Path + "?" + q.Encode()
}

// objectKey is the key of a path-style object request ("" for the bucket).
func objectKey(r *http.Request) string {
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return rest
}

// accessKey is the access key a request is signed with.
func accessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		if _, after, ok := strings.Cut(h, "Credential="); ok {
			cred = after
		}
	}
	id, _, _ := strings.Cut(cred, "/")
	id, _ = url.PathUnescape(id)
	return id
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}

// truncatingWriter sends the headers and half of the body (by the
// Content-Length the handler set), then drops the connection.
type truncatingWriter struct {
	http.ResponseWriter
	limit, sent int64
	cut         bool
}

func (t *truncatingWriter) WriteHeader(code int) {
	if t.cut {
		return // the connection is gone
	}
	var n int64
	_, _ = fmt.Sscan(t.Header().Get("Content-Length"), &n)
	t.limit = n / 2
	t.ResponseWriter.WriteHeader(code)
}

func (t *truncatingWriter) Write(p []byte) (int, error) {
	if t.cut {
		return 0, io.ErrClosedPipe
	}
	if t.limit == 0 && t.sent == 0 {
		var n int64
		_, _ = fmt.Sscan(t.Header().Get("Content-Length"), &n)
		t.limit = n / 2
	}
	if t.sent+int64(len(p)) <= t.limit {
		t.sent += int64(len(p))
		return t.ResponseWriter.Write(p)
	}
	n, _ := t.ResponseWriter.Write(p[:t.limit-t.sent])
	t.sent += int64(n)
	t.cut = true
	if fl, ok := t.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	hangUp(t.ResponseWriter)
	return n, io.ErrClosedPipe
}
