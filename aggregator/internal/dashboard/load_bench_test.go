package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/labstack/echo/v4"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/aggregator/internal/server"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/view"
)

// The load of the issue: 500 branches × 365 days (plus 90 backups each) on
// a loopback S3 server, 32 concurrent clients, each sending its next
// request when the last one's body is read. The bucket holds each closed
// month's bundle too, as the agents write them, so that the cold sync
// before the load reads bundles (it is set-up, not measured).
var loadBucket = fixture.Bucket{Branches: 500, Days: 365, Backups: 90, LastDate: "2026-02-16", BackupBytes: 512, Bundles: true}

// The bounds' ratios to the static file of the same size, served by the
// same server in the same run: the cached overview is bytes from memory
// (1.5×); a fresh render may cost twice the cached bound (the 50
// against 25 ms); a branch page of 90 days is rendered once per sync,
// minute, branch and query and then served from memory (2.5×). Its
// first render (the page rendered on every request) is held to 8×: not
// the figure, which the cached page meets, but a guard that the
// render does not grow much dearer (it measured 2.5 to 6.1× on a shared
// two-core machine, about 1.2 ms of CPU a request against 0.3 ms for the
// static file, clients included).
const (
	overviewCachedRatio = 1.5
	overviewFreshRatio  = 3.0
	branchRatio         = 2.5
	branchFirstRatio    = 8.0
)

const (
	loadClients = 32
	// loadPerClient requests per client are timed, after loadWarmup each.
	loadPerClient = 60
	loadWarmup    = 3
)

// sameSize serves, in the aggregator's own server and behind the same
// authentication, in-memory files whose sizes are those of the pages:
// the comparison that says what a page costs beyond its bytes.
type sameSize struct {
	mu sync.RWMutex
	fs fstest.MapFS
}

func (s *sameSize) register(e *echo.Echo, auth echo.MiddlewareFunc) {
	e.GET("/bench-static/*", func(c echo.Context) error {
		s.mu.RLock()
		fsys := s.fs
		s.mu.RUnlock()
		http.StripPrefix("/bench-static/", http.FileServerFS(fsys)).ServeHTTP(c.Response(), c.Request())
		return nil
	}, auth)
}

func (s *sameSize) set(name string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fs == nil {
		s.fs = fstest.MapFS{}
	}
	s.fs[name] = &fstest.MapFile{Data: body, ModTime: time.Unix(0, 0)}
}

func BenchmarkDashboardLoad(b *testing.B) {
	backend := s3mem.New()
	if err := backend.CreateBucket(testenv.S3Bucket); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	docs, err := loadBucket.Seed(backend, testenv.S3Bucket)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d documents and %d backups in %s", docs, loadBucket.Branches*loadBucket.Backups, time.Since(start).Round(time.Millisecond))
	srv := testenv.StartS3(b, testenv.WithBackend(backend))
	st := srv.Store(b)

	static := &sameSize{}
	start = time.Now()
	e := newEnvWith(b, st, map[string]string{options.EnvExpected: ""}, app.Config{Routes: []app.RouteBuilder{
		dashboard.Routes,
		func(*service.Service, options.Options, *slog.Logger) (server.Registrar, error) {
			return static.register, nil
		},
	}})
	b.Logf("cold sync of the bucket over loopback S3: %s", time.Since(start).Round(time.Millisecond))
	base := e.serve(b)

	// The same dashboard without the overview cache, on its own port of
	// the same process, to show what rendering the page costs.
	uncached := serveUncached(b, e.App.Service, nil)

	// The clients ask for pages as they are (no gzip), so that a page and
	// the static file of its size put the same bytes on the wire; the
	// gzip scenario asks as a browser does.
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: loadClients * 2, MaxIdleConnsPerHost: loadClients * 2, DisableCompression: true,
	}}
	gzClient := &http.Client{Transport: &http.Transport{MaxIdleConns: loadClients * 2, MaxIdleConnsPerHost: loadClients * 2}}
	b.Cleanup(client.CloseIdleConnections)
	b.Cleanup(gzClient.CloseIdleConnections)

	overview := fetchPage(b, client, base+"/")
	branch := fetchPage(b, client, base+"/branches/"+fixture.BranchID(0)+"?days=90")
	static.set("overview.html", overview)
	static.set("branch.html", branch)
	b.Logf("overview %d bytes (%d rows), branch page %d bytes", len(overview), loadBucket.Branches, len(branch))

	branchPath := func(r *rand.Rand) string {
		return fmt.Sprintf("/branches/%s?days=90", fixture.BranchID(r.IntN(loadBucket.Branches)))
	}
	// The cached branch pages: the clock of the benchmark stands still and
	// no sync runs, so a page is rendered on its branch's first request
	// (fetchPage above rendered branch 0's) and served from memory after.
	firsts := &firstRequests{seen: map[string]bool{"/branches/" + fixture.BranchID(0) + "?days=90": true}}
	// Each page's p99 is bounded by the figure (issue 14: overview
	// at most 25 ms cached and 50 ms fresh, branch page at most 40 ms) or,
	// where the machine is slower than the issue's, by a ratio to the p99
	// of a static file of the page's size served by the same process under
	// the same load, measured just before it.
	scenarios := []loadScenario{
		{"overview-static-same-size", client, base, func(*rand.Rand) string { return "/bench-static/overview.html" }, 0, "", 0},
		{"overview", client, base, func(*rand.Rand) string { return "/" }, 25 * time.Millisecond, "overview-static-same-size", overviewCachedRatio},
		{"overview-gzip", gzClient, base, func(*rand.Rand) string { return "/" }, 0, "", 0},
		{"overview-uncached", client, uncached, anyOverviewPage(loadBucket.Branches), 50 * time.Millisecond, "overview-static-same-size", overviewFreshRatio},
		{"branch-90d-static-same-size", client, base, func(*rand.Rand) string { return "/bench-static/branch.html" }, 0, "", 0},
		{"branch-90d", client, base, firsts.record(branchPath), 40 * time.Millisecond, "branch-90d-static-same-size", branchRatio},
		{"branch-90d-uncached", client, uncached, branchPath, 40 * time.Millisecond, "branch-90d-static-same-size", branchFirstRatio},
	}
	runLoad(b, scenarios)
	if firsts.requests > 0 {
		b.Logf("branch-90d: %d of its %d requests (warm-ups included, all runs) were a branch's first, rendered; the rest were served from the cache",
			len(firsts.seen)-1, firsts.requests)
	}
}

// firstRequests counts the paths asked for and the distinct ones among
// them: the pages a cache had to render.
type firstRequests struct {
	mu       sync.Mutex
	seen     map[string]bool
	requests int
}

func (f *firstRequests) record(path func(*rand.Rand) string) func(*rand.Rand) string {
	return func(r *rand.Rand) string {
		p := path(r)
		f.mu.Lock()
		f.seen[p] = true
		f.requests++
		f.mu.Unlock()
		return p
	}
}

// anyOverviewPage picks any page of the overview of n branches, in any
// sort order.
func anyOverviewPage(n int) func(*rand.Rand) string {
	return func(r *rand.Rand) string {
		return fmt.Sprintf("/?sort=%s&page=%d", view.SortKeys[r.IntN(len(view.SortKeys))], 1+r.IntN(view.Pages(n)))
	}
}

// loadScenario is one closed loop of a load benchmark: its pages, and
// its bound (none for a baseline).
type loadScenario struct {
	name     string
	client   *http.Client
	base     string
	path     func(*rand.Rand) string
	limit    time.Duration // the p99 bound; 0 for the comparisons
	baseline string        // the static scenario the page is bounded against
	ratio    float64       // p99 at most ratio × the baseline's p99
}

// runLoad runs each scenario as a sub-benchmark (the best p99 of
// benchbound.Runs runs counts) and fails one whose p99 is over both its
// issue figure and its ratio to its baseline's p99 of the same run. It
// returns the best p99 of each scenario that ran, in ms.
func runLoad(b *testing.B, scenarios []loadScenario) map[string]float64 {
	p99s := map[string]float64{} // the best p99 of each scenario, ms
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			// A CPU profile of the load alone (go test's -cpuprofile also
			// holds the seeding and the cold sync).
			if f := os.Getenv("DASHBOARD_LOAD_CPUPROFILE"); f != "" {
				pf, _ := os.Create(f + "." + sc.name)
				pprof.StartCPUProfile(pf)
				defer pprof.StopCPUProfile()
			}
			for range b.N {
				// A run is one closed loop; the run with the lowest p99 counts.
				var p50, maxMS, reqPerS, bytesPerReq, cpuPerReq float64
				best := benchbound.Lowest(func(int) float64 {
					before := processCPU(b)
					all, bytes, elapsed := load(b, sc.client, sc.base, sc.path)
					cpu := processCPU(b) - before
					slices.Sort(all)
					p := func(q float64) float64 {
						return float64(all[min(len(all)-1, int(q*float64(len(all))))].Microseconds()) / 1000
					}
					p99 := p(0.99)
					if p99 < p99s[sc.name] || p99s[sc.name] == 0 {
						p50, maxMS = p(0.50), float64(all[len(all)-1].Microseconds())/1000
						reqPerS, bytesPerReq = float64(len(all))/elapsed.Seconds(), float64(bytes)/float64(len(all))
						cpuPerReq = float64(cpu.Microseconds()) / 1000 / float64(len(all))
						p99s[sc.name] = p99
					}
					return p99
				})
				b.ReportMetric(p50, "p50-ms")
				b.ReportMetric(best, "p99-ms")
				b.ReportMetric(maxMS, "max-ms")
				b.ReportMetric(reqPerS, "req/s")
				b.ReportMetric(bytesPerReq, "bytes/req")
				// CPU of the whole process (server and clients) per request:
				// unlike the latencies, hardly moved by other work on the machine.
				b.ReportMetric(cpuPerReq, "cpu-ms/req")
				b.ReportMetric(0, "ns/op")
			}
			if sc.limit > 0 {
				base, ok := p99s[sc.baseline]
				if !ok {
					b.Fatalf("%s is bounded against %s, which did not run (BENCH= must select both)", sc.name, sc.baseline)
				}
				got := benchbound.Figure{Name: sc.name + " p99", Value: p99s[sc.name], Unit: "ms"}
				b.ReportMetric(got.Value/base, "p99-vs-static")
				// Within the figure, or else within the ratio to the
				// static file: failing means the page costs more than both allow.
				if limit := float64(sc.limit.Microseconds()) / 1000; got.Value <= limit {
					benchbound.AtMost(b, got, limit)
				} else {
					benchbound.RatioAtMost(b, got, benchbound.Figure{Name: sc.baseline + " p99", Value: base, Unit: "ms"}, sc.ratio)
				}
			}
		})
	}
	return p99s
}

// load runs the closed loop: loadClients goroutines, each timing
// loadPerClient requests after a warm-up. It returns every latency, the
// bytes read and the wall time of the timed part.
func load(b *testing.B, client *http.Client, base string, path func(*rand.Rand) string) ([]time.Duration, int64, time.Duration) {
	b.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lat     []time.Duration
		bytes   int64
		firstEr error
	)
	startLine := make(chan struct{})
	warmed := sync.WaitGroup{}
	warmed.Add(loadClients)
	var t0 time.Time
	for c := range loadClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 42))
			mine := make([]time.Duration, 0, loadPerClient)
			var n int64
			for i := range loadWarmup + loadPerClient {
				if i == loadWarmup {
					warmed.Done()
					<-startLine
				}
				s := time.Now()
				got, err := get(client, base+path(r))
				if err != nil {
					mu.Lock()
					firstEr = err
					mu.Unlock()
					if i < loadWarmup {
						warmed.Done()
					}
					return
				}
				if i >= loadWarmup {
					mine = append(mine, time.Since(s))
					n += got
				}
			}
			mu.Lock()
			lat, bytes = append(lat, mine...), bytes+n
			mu.Unlock()
		})
	}
	warmed.Wait()
	t0 = time.Now()
	close(startLine)
	wg.Wait()
	elapsed := time.Since(t0)
	if firstEr != nil {
		b.Fatal(firstEr)
	}
	return lat, bytes, elapsed
}

func get(client *http.Client, url string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(user, password)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return n, err
}

func fetchPage(b *testing.B, client *http.Client, url string) []byte {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth(user, password)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return body
}

// serveUncached serves a dashboard without the overview cache over svc on
// another loopback port, until the benchmark ends.
func serveUncached(b *testing.B, svc *service.Service, tags map[string][]string) string {
	b.Helper()
	d, err := dashboard.New(dashboard.Options{Service: svc, Location: fixture.IST, NoPageCache: true, Tags: tags})
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	d.Register(e, func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
	return "http://" + l.Addr().String()
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
