package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// The synthetic bucket of the issue: 500 branches × 365 days of metrics
// plus 90 backups each, seeded straight into an in-memory gofakes3
// backend (bypassing HTTP) once per benchmark process. The dumps are
// small (they are only listed). Each closed month's bundle is there too,
// as the agents write them: the cold sync that builds the index the
// refresh, restart and export benchmarks start from reads bundles (it is
// set-up; BenchmarkColdSync measures the daily documents' sync on its own
// bucket).
var big = fixture.Bucket{Branches: 500, Days: 365, Backups: 90, LastDate: "2026-02-16", BackupBytes: 1024, Bundles: true}

const benchConcurrency = 16

type bigBucket struct {
	backend *s3mem.Backend
	docs    int
	keys    []string // every metrics key
	cold    *index.Index
	snapDir string
	getRate float64 // plain GETs per second, see getsBaseline
	err     error
}

var (
	bigOnce sync.Once
	bigData bigBucket
)

// bucket seeds the backend (and, with cold, a cold-synced index and its
// snapshot) once.
func bucket(b *testing.B) *bigBucket {
	b.Helper()
	bigOnce.Do(func() {
		bigData.backend = s3mem.New()
		if err := bigData.backend.CreateBucket(testenv.S3Bucket); err != nil {
			bigData.err = err
			return
		}
		bigData.docs, bigData.err = big.Seed(bigData.backend, testenv.S3Bucket)
		for i := range big.Branches {
			for d := range big.Days {
				bigData.keys = append(bigData.keys, fixture.MetricsKey(fixture.BranchID(i), fixture.Date(big.LastDate, d-big.Days+1)))
			}
		}
	})
	if bigData.err != nil {
		b.Fatal(bigData.err)
	}
	return &bigData
}

// server starts a loopback S3 server over the shared backend.
func server(b *testing.B, bb *bigBucket) (*testenv.S3Server, store.Store) {
	b.Helper()
	srv := testenv.StartS3(b, testenv.WithBackend(bb.backend))
	o := srv.Options()
	o.MaxAttempts = 1
	st, err := store.NewS3(o)
	if err != nil {
		b.Fatal(err)
	}
	return srv, st
}

func newBenchSyncer(st store.Store) *syncer.Syncer {
	return syncer.New(st, syncer.Options{Concurrency: benchConcurrency, RelistDays: options.DefaultRelistDays})
}

// coldIndex syncs the bucket from nothing once and snapshots the result.
func coldIndex(b *testing.B, bb *bigBucket, st store.Store) *index.Index {
	b.Helper()
	if bb.cold == nil {
		x, _, err := newBenchSyncer(st).Sync(context.Background(), nil, true)
		if err != nil {
			b.Fatal(err)
		}
		bb.cold = x
	}
	if bb.snapDir == "" {
		dir, err := os.MkdirTemp("", "aggregator-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bb.snapDir = dir // shared by the benchmarks; TestMain removes it
		if err := index.Save(bb.snapDir, bb.cold); err != nil {
			b.Fatal(err)
		}
	}
	return bb.cold
}

// plainGets fetches every key at the given concurrency and returns the rate.
func plainGets(b *testing.B, st store.Store, keys []string, conc int) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(keys) {
					return
				}
				rc, _, err := st.Get(context.Background(), keys[i])
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, rc)
				_ = rc.Close()
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d plain GETs failed", failed.Load())
	}
	return float64(len(keys)) / time.Since(start).Seconds()
}

// coldBucket is the cold sync's own bucket: 50 branches of the same
// shape as big (365 days, 90 backups each), so that benchbound.Runs
// passes of sync and of plain GETs fit in make bench's time.
var coldBucket = fixture.Bucket{Branches: 50, Days: 365, Backups: 90, LastDate: "2026-02-16", BackupBytes: 1024}

// BenchmarkColdSync: a sync from nothing against the plain GETs of the
// same documents at the same concurrency, in the same run (issue 5: at
// least 70% of the GET rate). Each run is one pass of plain GETs and one
// cold sync; the best GET rate and the best sync rate count.
func BenchmarkColdSync(b *testing.B) {
	backend := s3mem.New()
	if err := backend.CreateBucket(testenv.S3Bucket); err != nil {
		b.Fatal(err)
	}
	docs, err := coldBucket.Seed(backend, testenv.S3Bucket)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 0, docs)
	for i := range coldBucket.Branches {
		for d := range coldBucket.Days {
			keys = append(keys, fixture.MetricsKey(fixture.BranchID(i), fixture.Date(coldBucket.LastDate, d-coldBucket.Days+1)))
		}
	}
	srv := testenv.StartS3(b, testenv.WithBackend(backend))
	o := srv.Options()
	o.MaxAttempts = 1
	st, err := store.NewS3(o)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var getRate, secs float64
		syncRate := benchbound.Highest(func(int) float64 {
			getRate = max(getRate, plainGets(b, st, keys, benchConcurrency))
			runtime.GC()
			start := time.Now()
			x, stats, err := newBenchSyncer(st).Sync(context.Background(), nil, true)
			if err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			if x.Documents() != docs {
				b.Fatalf("cold sync indexed %d documents, want %d", x.Documents(), docs)
			}
			secs = elapsed.Seconds()
			return float64(stats.Downloaded) / elapsed.Seconds()
		})
		b.ReportMetric(getRate, "plain-GETs/s")
		b.ReportMetric(syncRate, "sync-docs/s")
		b.ReportMetric(100*syncRate/getRate, "%-of-GET-rate")
		b.ReportMetric(secs, "s-cold-sync")
		benchbound.RatioAtLeast(b,
			benchbound.Figure{Name: "cold sync", Value: syncRate, Unit: "docs/s"},
			benchbound.Figure{Name: "plain GETs at the same concurrency", Value: getRate, Unit: "docs/s"}, 0.70)
	}
}

// refGetRate is the plain-GET rate of wave 1's figures (issue 5's note:
// 8,398 GETs/s at concurrency 16 on this machine, quiet), when its
// absolute time bounds held. A time bound T of those issues becomes "at
// most the time of T × refGetRate plain GETs, measured in the same run".
const refGetRate = 8398

// getsBaseline is the time of n plain GETs at the benchmark's concurrency,
// at the best rate of benchbound.Runs passes over a sample of the bucket's
// documents, measured once per process.
func getsBaseline(b *testing.B, bb *bigBucket, st store.Store, seconds float64) benchbound.Figure {
	b.Helper()
	if bb.getRate == 0 {
		sample := bb.keys[:min(len(bb.keys), 20_000)]
		bb.getRate = benchbound.Highest(func(int) float64 { return plainGets(b, st, sample, benchConcurrency) })
		b.Logf("plain GETs at concurrency %d: %.0f/s (wave 1: %d/s)", benchConcurrency, bb.getRate, refGetRate)
	}
	n := seconds * refGetRate
	return benchbound.Figure{Name: fmt.Sprintf("time of %.0f plain GETs", n), Value: n / bb.getRate, Unit: "s"}
}

// BenchmarkRefreshNothingNew: an incremental refresh after a full sync,
// with nothing new in the bucket (targets: at most 1 s, at most 2
// requests per branch; the time as a time of plain GETs, see getsBaseline).
func BenchmarkRefreshNothingNew(b *testing.B) {
	bb := bucket(b)
	srv, st := server(b, bb)
	cold := coldIndex(b, bb, st)
	s := newBenchSyncer(st)
	baseline := getsBaseline(b, bb, st, 1)
	for b.Loop() {
		var reqs int64
		secs := benchbound.Lowest(func(int) float64 {
			runtime.GC() // the cold sync's garbage is not this refresh's
			before := srv.Requests.Load()
			start := time.Now()
			x, stats, err := s.Sync(context.Background(), cold, false)
			elapsed := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if stats.Downloaded != 0 || stats.Changed || x.Documents() != bb.docs {
				b.Fatalf("refresh with nothing new: %+v", stats)
			}
			reqs = srv.Requests.Load() - before
			return elapsed.Seconds()
		})
		b.ReportMetric(secs*1000, "ms-refresh")
		b.ReportMetric(float64(reqs)/float64(big.Branches), "requests/branch")
		benchbound.AtMost(b, benchbound.Figure{Name: "refresh requests per branch", Value: float64(reqs) / float64(big.Branches), Unit: "requests"}, 2)
		// Issue 5: at most 1 s at wave 1's GET rate.
		benchbound.RatioAtMost(b, benchbound.Figure{Name: "refresh with nothing new", Value: secs, Unit: "s"}, baseline, 1)
	}
}

// BenchmarkRestartFromSnapshot: a new App over the snapshot of a complete
// index, nothing new in the bucket: the time until it serves the complete
// index after its first refresh (issue 5: at most 2 s, as a time of plain
// GETs, see getsBaseline).
func BenchmarkRestartFromSnapshot(b *testing.B) {
	bb := bucket(b)
	srv, st := server(b, bb)
	coldIndex(b, bb, st)
	env := srv.Env()
	env[options.EnvDataDir] = bb.snapDir
	env[options.EnvInsecureNoAuth] = "true"
	env[options.EnvListen] = "127.0.0.1:0"
	o, err := options.Load(config.NewReader(config.MapLookup(env)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		b.Fatal(err)
	}
	baseline := getsBaseline(b, bb, st, 2)
	for b.Loop() {
		var loaded time.Duration
		secs := benchbound.Lowest(func(int) float64 {
			runtime.GC()
			start := time.Now()
			a, err := app.Build(o, app.Config{Store: st, ReadOnlySnapshot: true})
			if err != nil {
				b.Fatal(err)
			}
			loaded = time.Since(start)
			if err := a.Service.RefreshIncremental(context.Background()); err != nil {
				b.Fatal(err)
			}
			base, stop := serveHTTP(b, a)
			resp, err := http.Get(base + "/api/v1/sync")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			served := time.Since(start)
			if n := a.Service.Index().Documents(); n != bb.docs || a.Service.LastSync().LastStats.Downloaded != 0 {
				b.Fatalf("restart serves %d documents (want %d) after %+v", n, bb.docs, a.Service.LastSync().LastStats)
			}
			stop()
			return served.Seconds()
		})
		b.ReportMetric(loaded.Seconds()*1000, "ms-snapshot-load")
		b.ReportMetric(secs*1000, "ms-to-served-after-refresh")
		// Issue 5: at most 2 s at wave 1's GET rate.
		benchbound.RatioAtMost(b, benchbound.Figure{Name: "restart from the snapshot to served", Value: secs, Unit: "s"}, baseline, 1)
	}
}

// BenchmarkExportCSV: /export.csv of every row (500 branches × 365 days)
// over loopback HTTP, with the server's peak heap growth sampled during
// the export (issue 5: at most 1 s, as a time of plain GETs, see
// getsBaseline).
func BenchmarkExportCSV(b *testing.B) {
	bb := bucket(b)
	_, st := server(b, bb)
	coldIndex(b, bb, st)
	env := map[string]string{options.EnvDataDir: bb.snapDir, options.EnvInsecureNoAuth: "true", options.EnvListen: "127.0.0.1:0", options.EnvBucketDir: "unused"}
	o, err := options.Load(config.NewReader(config.MapLookup(env)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Build(o, app.Config{Store: st, ReadOnlySnapshot: true})
	if err != nil {
		b.Fatal(err)
	}
	base, stop := serveHTTP(b, a)
	defer stop()
	from := fixture.Date(big.LastDate, -big.Days+1)
	url := fmt.Sprintf("%s/export.csv?from=%s&to=%s", base, from, big.LastDate)
	baseline := getsBaseline(b, bb, st, 1)
	for b.Loop() {
		var growth, mib float64
		secs := benchbound.Lowest(func(int) float64 {
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			peak := sampleHeap()
			start := time.Now()
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			lines, n := countLines(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			top := peak()
			if lines != bb.docs+1 {
				b.Fatalf("export has %d lines, want %d", lines, bb.docs+1)
			}
			growth, mib = float64(int64(top)-int64(base.HeapInuse))/(1<<20), float64(n)/(1<<20)
			return elapsed.Seconds()
		})
		b.ReportMetric(secs*1000, "ms-export")
		b.ReportMetric(mib, "MiB-csv")
		b.ReportMetric(growth, "MiB-peak-heap-growth")
		// Issue 5: at most 1 s at wave 1's GET rate (flat memory is the
		// bound of csvexport's BenchmarkExport).
		benchbound.RatioAtMost(b, benchbound.Figure{Name: "CSV export of every row over HTTP", Value: secs, Unit: "s"}, baseline, 1)
	}
}

// serveHTTP serves the app's routes on loopback (no refresh loop); stop
// shuts the server down.
func serveHTTP(b *testing.B, a *app.App) (string, func()) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Server.Serve(ctx, l) }()
	return "http://" + l.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

// sampleHeap samples HeapInuse every 5 ms until the returned func is
// called, which returns the peak.
func sampleHeap() func() uint64 {
	stop := make(chan struct{})
	res := make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-res }
}

func countLines(r io.Reader) (int, int64) {
	buf := make([]byte, 64<<10)
	lines, total := 0, int64(0)
	for {
		n, err := r.Read(buf)
		total += int64(n)
		for _, c := range buf[:n] {
			if c == '\n' {
				lines++
			}
		}
		if err != nil {
			return lines, total
		}
	}
}
