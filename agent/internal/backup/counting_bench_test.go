package backup_test

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// countingBound is BenchmarkBackupCounting's bound: a backup counting
// rows as configured by default (VERIFY_COUNT_MAX_ROWS 1,000,000) takes at
// most 1.15× the time of the same backup counting nothing (best of
// benchbound.Runs runs each), so that counting alone never uses the
// backup's whole budget against plain pg_dump (1.15×, issue 3). The
// backups are timed in different runs, whose spread on this machine is up
// to 10%: a tighter bound would fail by chance (1.101 was measured for a
// default counting whose queries took 0.01 s).
//
// Counting every table is timed once beside it and not bounded. Its
// count(*) queries took 0.5 to 0.9 s beside pg_dump's 3.5 to 4.5 s on the
// 1.1 GB database (7.5 M rows in one table), competing with pg_dump and
// its server process for the two cores; that backup measured 0.97 and
// 1.22× the one counting nothing in two runs on a quiet machine. That is
// up to the backup's whole budget, so the default leaves tables estimated
// above a million rows uncounted.
const countingBound = 1.15

// BenchmarkBackupCounting measures what counting rows in the dump's
// snapshot (and the day's figures) costs a backup: the wall time of a
// full backup (dump, checks, upload to a loopback S3 server, manifest)
// with the default counting (and once with every table counted) against
// that of the same backup counting nothing (Options.VerifyCountMaxRows -1), in
// the same run, on the pgbench database of at least 1 GB that
// BenchmarkBackupVsPgDump uses (BRANCHWATCH_BENCH_DIVISOR shrinks it, and
// then nothing is bounded). Bound: countingBound.
func BenchmarkBackupCounting(b *testing.B) {
	div := benchDivisor(b)
	pg := testenv.PG(b)
	db, dbBytes := sharedBenchDB(b, pg, max(1, 75/div), 0) // BenchmarkBackupVsPgDump's pgbench database
	url := pg.URL(db)
	if div == 1 && dbBytes < 1<<30 {
		b.Fatalf("benchmark database is %d MiB, below 1 GiB", dbBytes>>20)
	}
	srv := testenv.StartS3(b)
	st := srv.Store(b)

	// The three ways, by VerifyCountMaxRows.
	type way struct {
		name    string
		maxRows int64
	}
	ways := []way{
		{"counting nothing", -1},
		{"default counting", options.DefaultVerifyCountMaxRows},
		{"counting every table", 0},
	}
	backupOnce := func(w way) (took, counting time.Duration, notCounted int) {
		logs := &syncBuffer{}
		o := backuptest.Options(b, backuptest.Env(url, b.TempDir(), srv))
		o.VerifyCountMaxRows = w.maxRows
		r, err := backup.New(o, st, slog.New(slog.NewJSONHandler(logs, nil)))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := r.Run(context.Background())
		took = time.Since(start)
		if err != nil {
			b.Fatalf("backup: %v", err)
		}
		_ = st.Delete(context.Background(), res.Key)
		_ = st.Delete(context.Background(), res.Manifest)
		return took, logDuration(b, logs.String(), "counting_duration"), int(logValue[float64](b, logs.String(), "not_counted"))
	}

	// A run takes a backup counting nothing and one with the default
	// counting, in alternating order, so that a machine getting busier or
	// quieter weighs on both alike; the best of each over benchbound.Runs
	// runs is compared (the best absorbs the spikes of other work on a
	// shared machine, which a sum or a single pair does not). One backup
	// counting every table follows, reported only: what the default
	// spares.
	best := []float64{math.Inf(1), math.Inf(1)}
	var defaultCounting time.Duration
	var defaultNotCounted int
	b.ResetTimer()
	for range b.N {
		for run := range benchbound.Runs() {
			for k := range 2 {
				i := (run + k) % 2
				took, counting, nc := backupOnce(ways[i])
				best[i] = min(best[i], took.Seconds())
				if i == 1 {
					defaultCounting, defaultNotCounted = counting, nc
				}
			}
		}
	}
	b.StopTimer()
	allTook, allCounting, allNotCounted := backupOnce(ways[2])
	if div == 1 && defaultNotCounted == 0 || allNotCounted != 0 {
		b.Fatalf("tables not counted: %d by default, %d counting every table: the benchmark database should have one table above the default", defaultNotCounted, allNotCounted)
	}
	ratio := best[1] / best[0]
	b.ReportMetric(ratio, "default/none")
	b.ReportMetric(allTook.Seconds()/best[0], "all-once/none")
	b.ReportMetric(best[0], "none-s")
	b.ReportMetric(best[1], "default-s")
	b.ReportMetric(allTook.Seconds(), "all-once-s")
	b.ReportMetric(allCounting.Seconds(), "counting-all-s")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
	b.Logf("best of %d: backup counting nothing %.2fs; default counting %.2fs (ratio %.3f; counting %.2fs, %d tables not counted); once counting every table %.2fs (counting %.2fs beside pg_dump); database %d MiB",
		benchbound.Runs(), best[0], best[1], ratio, defaultCounting.Seconds(), defaultNotCounted, allTook.Seconds(), allCounting.Seconds(), dbBytes>>20)
	if div == 1 {
		benchbound.RatioAtMost(b,
			benchbound.Figure{Name: "backup with the default counting", Value: best[1], Unit: "s"},
			benchbound.Figure{Name: "backup counting nothing", Value: best[0], Unit: "s"}, countingBound)
	}
}
