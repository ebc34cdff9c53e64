package backup_test

import (
	"context"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/agent/internal/restore"
	"github.com/branchwatch/branchwatch/agent/internal/restoredrill"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// BenchmarkDrill measures a restore drill of the backup of the pgbench
// database of at least 1 GB that the other benchmarks of the package use
// (it holds the reference schema with a few thousand bills, so the day's
// figures are recomputed): download from a loopback S3 server, SHA-256,
// restore into a temporary database, count the tables, recompute the day,
// drop the database, write the record. The baseline, in the same run, is
// pg_restore of the same dump file into an empty database (the least any
// restore test must spend). A run times one of each, in alternating
// order; bound: the best drill of benchbound.Runs runs ≤ 1.5 × the best
// pg_restore.
func BenchmarkDrill(b *testing.B) {
	div := benchDivisor(b)
	ctx := context.Background()
	pg := testenv.PG(b)
	db, dbBytes := sharedBenchDB(b, pg, max(1, 75/div), 0)
	url := pg.URL(db)
	if div == 1 && dbBytes < 1<<30 {
		b.Fatalf("benchmark database is %d MiB, below 1 GiB", dbBytes>>20)
	}
	srv := testenv.StartS3(b)
	st := srv.Store(b)
	env := backuptest.Env(url, b.TempDir(), srv)
	env[options.EnvTimezone] = "Asia/Kolkata"
	o := backuptest.Options(b, env)
	r, err := backup.New(o, st, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	// 22:30 on 2 February: the manifest's day is one with bills.
	r.Now = func() time.Time { return time.Date(2026, 2, 2, 17, 0, 0, 0, time.UTC) }
	res, err := r.Run(ctx)
	if err != nil {
		b.Fatal(err)
	}
	server, err := pgtools.ServerVersion(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	pgRestore, err := pgtools.NewFinder("", "").Find(ctx, "pg_restore", server)
	if err != nil {
		b.Fatal(err)
	}
	plain := func() time.Duration {
		target := pg.CreateDatabase(b)
		start := time.Now()
		out, err := exec.Command(pgRestore.Path, "--no-owner", "--single-transaction", "--dbname="+pg.URL(target), res.Path).CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("pg_restore: %v: %s", err, out)
		}
		_ = pg.Exec(ctx, "postgres", "DROP DATABASE "+target+" WITH (FORCE)")
		return took
	}
	drillAt := time.Date(2026, 2, 8, 3, 0, 0, 0, o.Location)
	drillOnce := func() time.Duration {
		start := time.Now()
		dr, err := restoredrill.Run(ctx, o, st, restoredrill.Request{VerifyRequest: restore.VerifyRequest{WorkDir: filepath.Join(b.TempDir())}}, nil, drillAt)
		took := time.Since(start)
		if err != nil {
			b.Fatalf("drill: %v", err)
		}
		if !dr.Record.OK || dr.Record.MetricsCheck == nil || !dr.Record.MetricsCheck.MatchesManifest {
			b.Fatalf("drill record %+v", dr.Record)
		}
		return took
	}

	plainBest, drillBest := math.Inf(1), math.Inf(1)
	b.ResetTimer()
	for range b.N {
		for run := range benchbound.Runs() {
			for _, isDrill := range []bool{run%2 == 0, run%2 == 1} {
				if isDrill {
					drillBest = min(drillBest, drillOnce().Seconds())
				} else {
					plainBest = min(plainBest, plain().Seconds())
				}
			}
		}
	}
	b.StopTimer()
	ratio := drillBest / plainBest
	b.ReportMetric(ratio, "drill/pg_restore")
	b.ReportMetric(drillBest, "drill-s")
	b.ReportMetric(plainBest, "pg_restore-s")
	b.ReportMetric(float64(res.Size)/(1<<20), "dump-MiB")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
	b.Logf("best of %d: drill %.2fs, pg_restore alone %.2fs (ratio %.3f); dump %d MiB of a %d MiB database",
		benchbound.Runs(), drillBest, plainBest, ratio, res.Size>>20, dbBytes>>20)
	if div == 1 {
		benchbound.RatioAtMost(b,
			benchbound.Figure{Name: "restore drill", Value: drillBest, Unit: "s"},
			benchbound.Figure{Name: "pg_restore alone", Value: plainBest, Unit: "s"}, 1.5)
	}
}
