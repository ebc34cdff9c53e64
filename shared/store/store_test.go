package store_test

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/store/storetest"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestS3Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return testenv.StartS3(t).Store(t)
	})
}

// TestVersityConformance runs the suite on versitygw, a production S3
// gateway that checks signatures and the region: path-style over HTTP.
func TestVersityConformance(t *testing.T) {
	srv := testenv.StartRealS3(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return srv.Store(t, srv.CreateBucket(t), srv.Root)
	})
}

// hostRecorder records the host and TLS state of every request sent.
type hostRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	hosts map[string]int
	plain int // responses that did not come over TLS
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hosts[r.URL.Hostname()]++
	if err == nil && resp.TLS == nil {
		h.plain++
	}
	return resp, err
}

// TestVersityConformanceTLSVirtualHost runs the suite as production talks
// to B2: HTTPS (a certificate of a test CA the client trusts) and
// virtual-hosted addressing, the bucket in the host name
// (<bucket>.s3.test, resolved to loopback by the client's dialer).
func TestVersityConformanceTLSVirtualHost(t *testing.T) {
	srv := testenv.StartRealS3(t, testenv.WithTLS())
	rec := &hostRecorder{hosts: map[string]int{}}
	storetest.Run(t, func(t *testing.T) store.Store {
		o := srv.Options(srv.CreateBucket(t), srv.Root)
		o.Endpoint, o.ForcePathStyle = srv.VirtualHostEndpoint(), false
		rec.next = o.HTTPClient.Transport
		o.HTTPClient.Transport = rec
		st, err := store.NewS3(o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
	total := 0
	for host, n := range rec.hosts {
		total += n
		if !strings.HasPrefix(host, "bw-") || !strings.HasSuffix(host, "."+testenv.VersityDomain) {
			t.Errorf("%d requests went to %s, want <bucket>.%s (virtual-hosted)", n, host, testenv.VersityDomain)
		}
	}
	if total == 0 || rec.plain > 0 {
		t.Errorf("%d requests, %d of them answered without TLS", total, rec.plain)
	}
	// A client that does not trust the test CA is refused at the handshake.
	o := srv.Options(srv.CreateBucket(t), srv.Root)
	o.HTTPClient = &http.Client{}
	o.MaxAttempts = 1
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(t.Context(), "x/y"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the test CA got %v, want a certificate error", err)
	}
}
