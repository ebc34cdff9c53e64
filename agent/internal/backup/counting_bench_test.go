package backup_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// BenchmarkBackupCounting measures what counting every table's rows in
// the dump's snapshot (and the day's figures) costs a backup: the wall
// time of a full backup (dump, checks, upload to a loopback S3 server,
// manifest) with counting, divided by that of the same backup counting
// nothing, in the same run, on the pgbench database of at least 1 GB that
// BenchmarkBackupVsPgDump uses (BRANCHWATCH_BENCH_DIVISOR shrinks it).
// Counting runs beside pg_dump, which reads the same tables. Bound: 1.15,
// the backup's own figure (agent/pg_dump, BenchmarkBackupVsPgDump), for the
// ratio or for counting's own time against a backup without it: counting
// must not cost more than the whole agent may add to pg_dump (beyond that,
// VERIFY_COUNT_MAX_ROWS is the remedy).
func BenchmarkBackupCounting(b *testing.B) {
	div := benchDivisor(b)
	pg := testenv.PG(b)
	db := pg.CreateDatabase(b)
	url := pg.URL(db)
	dbBytes := fillBenchDB(b, pg, db, max(1, 75/div), 0)
	if div == 1 && dbBytes < 1<<30 {
		b.Fatalf("benchmark database is %d MiB, below 1 GiB", dbBytes>>20)
	}
	srv := testenv.StartS3(b)
	st := srv.Store(b)

	backupOnce := func(count bool) (took, counting time.Duration) {
		logs := &syncBuffer{}
		o := backuptest.Options(b, backuptest.Env(url, b.TempDir(), srv))
		if !count {
			o.VerifyCountMaxRows = -1
		}
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
		return took, logDuration(b, logs.String(), "counting_duration")
	}

	var with, without, countingTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// without, with, with, without: a machine getting busier or quieter
		// weighs on both sides alike.
		for _, count := range []bool{false, true, true, false} {
			took, counting := backupOnce(count)
			if count {
				with += took
				countingTotal += counting
			} else {
				without += took
			}
		}
	}
	b.StopTimer()
	ratio := with.Seconds() / without.Seconds()
	// Counting's own time against a backup without it: what counting would
	// add were it not overlapped with pg_dump at all. Less sensitive than
	// the ratio to other load on the machine.
	countingRatio := (without + countingTotal).Seconds() / without.Seconds()
	b.ReportMetric(ratio, "with/without")
	b.ReportMetric(countingRatio, "counting-ratio")
	b.ReportMetric(with.Seconds()/float64(2*b.N), "with-s")
	b.ReportMetric(without.Seconds()/float64(2*b.N), "without-s")
	b.ReportMetric(countingTotal.Seconds()/float64(2*b.N), "counting-s")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
	b.Logf("backup with counting %.2fs, without %.2fs (ratio %.3f); counting itself %.2fs beside pg_dump (%.3f counted against the backup without); database %d MiB",
		with.Seconds()/float64(2*b.N), without.Seconds()/float64(2*b.N), ratio, countingTotal.Seconds()/float64(2*b.N), countingRatio, dbBytes>>20)
	// On a busy machine two runs of the same backup differ by more than
	// the bound, so only both figures over it are a failure.
	if div == 1 && ratio > 1.15 && countingRatio > 1.15 {
		b.Errorf("a backup with counting took %.2f× the time of one without (counting alone %.2f×), over the 1.15 bound: set VERIFY_COUNT_MAX_ROWS", ratio, countingRatio)
	}
}
