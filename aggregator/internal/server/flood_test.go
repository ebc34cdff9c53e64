package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

const (
	floodUser     = "owner"
	floodPassword = "correct horse battery staple"
	// floodPath is an authenticated route answering with real data.
	floodPath = "/api/v1/branches"
)

// floodServer is the real server on 127.0.0.1, over a service synced from
// a loopback S3 bucket with two branches' documents, its password hashed
// at bcrypt's default cost (what production uses).
type floodServer struct {
	s    *Server
	host string // 127.0.0.1:port
}

func startFloodServer(tb testing.TB) *floodServer {
	tb.Helper()
	srv := testenv.StartS3(tb)
	st := srv.Store(tb)
	for _, id := range []string{"andheri", "bandra"} {
		for d := range 3 {
			fixture.PutDoc(tb, st, fixture.Doc(id, fixture.Date("2026-02-14", d), int64(d)))
		}
	}
	svc, err := service.New(service.Options{Store: st, Location: fixture.IST})
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(floodPassword), bcrypt.DefaultCost)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(svc, Options{Credentials: Credentials{User: floodUser, PasswordBcrypt: string(hash)}})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server stopped with %v", err)
		}
	})
	return &floodServer{s: s, host: l.Addr().String()}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (any of 127.0.0.0/8 works on Linux): the server sees one
// client address per ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// login sends one request with basic credentials and returns the status,
// the Retry-After header, and how long it took.
func (f *floodServer) login(c *http.Client, pass string) (int, string, time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+f.host+floodPath, nil)
	if err != nil {
		return 0, "", 0, err
	}
	req.SetBasicAuth(floodUser, pass)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start), nil
}

// ownerLogin is a first login of the owner (nothing remembered: it pays
// bcrypt) from 127.0.0.1; it fails tb unless the answer is 200.
func (f *floodServer) ownerLogin(tb testing.TB, c *http.Client) time.Duration {
	tb.Helper()
	f.s.auth.forget()
	status, _, took, err := f.login(c, floodPassword)
	if err != nil {
		tb.Fatalf("owner login: %v", err)
	}
	if status != http.StatusOK {
		tb.Fatalf("owner login: status %d after %s", status, took)
	}
	return took
}

// flood is the attack: guessers loop on wrong passwords (each a new
// guess) from a few addresses, until stop is called; statuses counts
// their answers per address and status.
type flood struct {
	stop     func()
	wg       sync.WaitGroup
	mu       sync.Mutex
	statuses map[string]map[int]int
	noRetry  atomic.Int64 // 429s without a Retry-After
	errs     atomic.Int64
}

// waitFor waits until cond holds for the answers of every guessing
// address; false after 60 s.
func (fl *flood) waitFor(cond func(map[int]int) bool) bool {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		fl.mu.Lock()
		all := true
		for _, ip := range floodAddrs {
			all = all && cond(fl.statuses[ip])
		}
		fl.mu.Unlock()
		if all {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// floodAddrs are the guessers' addresses: 40 clients, five per address.
var floodAddrs = []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16", "127.0.0.17", "127.0.0.18"}

func (f *floodServer) startFlood(clients int) *flood {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &flood{statuses: map[string]map[int]int{}}
	var once sync.Once
	fl.stop = func() { once.Do(func() { cancel(); fl.wg.Wait() }) }
	for i := range clients {
		ip := floodAddrs[i%len(floodAddrs)]
		c := clientFrom(ip)
		fl.wg.Go(func() {
			defer c.CloseIdleConnections()
			// Bounded in count and time, whatever the server does.
			for n := 0; n < 100_000 && ctx.Err() == nil; n++ {
				status, retry, _, err := f.login(c, fmt.Sprintf("guess-%d-%d", i, n))
				if err != nil {
					fl.errs.Add(1)
					continue
				}
				fl.mu.Lock()
				if fl.statuses[ip] == nil {
					fl.statuses[ip] = map[int]int{}
				}
				fl.statuses[ip][status]++
				fl.mu.Unlock()
				if status == http.StatusTooManyRequests {
					if retry == "" {
						fl.noRetry.Add(1)
					}
					// A guesser that honours nothing: it retries at once,
					// with a short pause so the loop is not only 429s.
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	return fl
}

// hangUps sends n requests with wrong passwords, each from its own
// address of 127.0.1.0/24, and closes every connection as soon as the
// request is written, without reading an answer.
func (f *floodServer) hangUps(tb testing.TB, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%250))}, Timeout: 10 * time.Second}
			conn, err := d.Dial("tcp", f.host)
			if err != nil {
				tb.Errorf("hang-up %d: %v", i, err)
				return
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+f.host+floodPath, nil)
			req.SetBasicAuth(floodUser, "hang-up-"+strconv.Itoa(i))
			if err := req.Write(conn); err != nil {
				tb.Errorf("hang-up %d: %v", i, err)
			}
			conn.Close()
		})
	}
	wg.Wait()
}

// waitIdle waits until no check runs or waits; false after 30 s.
func (f *floodServer) waitIdle() bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		g := f.s.auth.gate
		g.mu.Lock()
		idle := g.running == 0 && len(g.waiting) == 0
		g.mu.Unlock()
		if idle {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestLoginFlood reproduces the lock-out of the owner: 150 requests that
// hang up at once, then 40 clients looping on wrong passwords from eight
// addresses plus another 150 hang-ups, while the owner logs in (a first
// login, paying bcrypt at the default cost) five times. Before the fix the
// owner waited 19.6 s and 51 s. It asserts that:
//   - hung-up requests leave the queue: far fewer comparisons run than
//     requests were sent;
//   - every owner login succeeds, the median under floodLoginBound and
//     none over three times that (generous for a machine shared by many
//     builds, where one comparison alone takes up to 400 ms; the figure
//     against an idle login is BenchmarkLoginUnderFlood's);
//   - each guessing address gets at most its burst of failures plus its
//     refill (401), then 429 with a Retry-After.
func TestLoginFlood(t *testing.T) {
	const floodLoginBound = 2 * time.Second
	f := startFloodServer(t)
	owner := clientFrom("127.0.0.1")

	f.hangUps(t, 150)
	if !f.waitIdle() {
		t.Fatal("password checks of hung-up clients still queued after 30 s")
	}
	if n := f.s.auth.compares.Load(); n > 40 {
		t.Errorf("%d bcrypt comparisons ran for 150 requests whose clients hung up at once; want few (they leave the queue)", n)
	} else {
		t.Logf("150 hang-ups cost %d bcrypt comparisons", n)
	}

	start := time.Now()
	fl := f.startFlood(40)
	defer fl.stop()
	// The flood is under way: every guessing address has failed once.
	if !fl.waitFor(func(st map[int]int) bool { return st[http.StatusUnauthorized] > 0 }) {
		t.Fatal("the guessers made no attempt in 60 s")
	}
	go f.hangUps(t, 150)
	var took []time.Duration
	for range 5 {
		took = append(took, f.ownerLogin(t, owner))
		time.Sleep(100 * time.Millisecond)
	}
	// Guessing on, every address ends up throttled.
	throttled := fl.waitFor(func(st map[int]int) bool { return st[http.StatusTooManyRequests] > 0 })
	fl.stop()
	elapsed := time.Since(start)

	t.Logf("owner logins under the flood: %v (median %s)", took, median(took))
	if m := median(took); m >= floodLoginBound {
		t.Errorf("median owner login under the flood took %s, want under %s", m, floodLoginBound)
	}
	for _, d := range took {
		if d > 3*floodLoginBound {
			t.Errorf("an owner login under the flood took %s", d)
		}
	}
	if !throttled {
		t.Error("not every guessing address was throttled within 60 s")
	}
	allowed := DefaultLoginBurst + int(elapsed/DefaultLoginEvery) + 1
	for _, ip := range floodAddrs {
		st := fl.statuses[ip]
		t.Logf("%s: %d refused (401), %d throttled (429)", ip, st[http.StatusUnauthorized], st[http.StatusTooManyRequests])
		if st[http.StatusUnauthorized] > allowed {
			t.Errorf("%s made %d failed logins in %s; the limit allows %d", ip, st[http.StatusUnauthorized], elapsed.Round(time.Millisecond), allowed)
		}
		for status, n := range st {
			if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
				t.Errorf("%s: %d answers of status %d", ip, n, status)
			}
		}
	}
	if n := fl.noRetry.Load(); n > 0 {
		t.Errorf("%d answers 429 without Retry-After", n)
	}
	if n := fl.errs.Load(); n > 0 {
		t.Errorf("%d guesses failed at the transport", n)
	}
	// The operator sees it on /metrics.
	req, _ := http.NewRequest(http.MethodGet, "http://"+f.host+"/metrics", nil)
	req.SetBasicAuth(floodUser, floodPassword)
	resp, err := owner.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"branchwatch_login_throttled_total", "branchwatch_login_abandoned_total", "branchwatch_login_refused_total"} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil || string(m[1]) == "0" {
			t.Errorf("/metrics: %s is %q, want more than 0", name, m)
		}
	}
}

// BenchmarkLoginUnderFlood measures the owner's first login (one bcrypt
// comparison at the default cost) while 40 clients loop on wrong
// passwords from eight addresses, against the same login on the idle
// server measured first in the same run. It fails when the flooded login
// takes more than maxFloodRatio times the idle one.
func BenchmarkLoginUnderFlood(b *testing.B) {
	const maxFloodRatio = 8
	f := startFloodServer(b)
	owner := clientFrom("127.0.0.1")
	f.ownerLogin(b, owner) // warm the connection
	var idle []time.Duration
	for range 5 {
		idle = append(idle, f.ownerLogin(b, owner))
	}
	fl := f.startFlood(40)
	defer fl.stop()
	if !fl.waitFor(func(st map[int]int) bool { return st[http.StatusUnauthorized] > 0 }) {
		b.Fatal("the guessers made no attempt in 60 s")
	}
	var flooded []time.Duration
	b.ResetTimer()
	for b.Loop() {
		flooded = append(flooded, f.ownerLogin(b, owner))
	}
	b.StopTimer()
	base, loaded := median(idle), median(flooded)
	ratio := float64(loaded) / float64(base)
	b.ReportMetric(float64(base.Microseconds())/1000, "idle-login-ms")
	b.ReportMetric(float64(loaded.Microseconds())/1000, "flooded-login-ms")
	b.ReportMetric(ratio, "flood/idle")
	benchbound.RatioAtMost(b,
		benchbound.Figure{Name: "owner's login under the flood (median)", Value: float64(loaded.Microseconds()) / 1000, Unit: "ms"},
		benchbound.Figure{Name: "the same login on the idle server (median)", Value: float64(base.Microseconds()) / 1000, Unit: "ms"}, maxFloodRatio)
}
