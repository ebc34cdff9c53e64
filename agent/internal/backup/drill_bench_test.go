package backup_test

import (
	"context"
	"log/slog"
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
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// BenchmarkDrill measures a restore drill of the backup of the pgbench
// database of at least 1 GB (plus the reference schema with a few thousand
// bills, so the day's figures are recomputed): download from a loopback S3
// server, SHA-256, restore into a temporary database, count every table,
// recompute the day, drop the database, write the record. The baseline, in
// the same run, is pg_restore of the same dump file into an empty database
// (the least any restore test must spend). Bound: drill ≤ 1.5 × that.
func BenchmarkDrill(b *testing.B) {
	div := benchDivisor(b)
	ctx := context.Background()
	pg := testenv.PG(b)
	db := pg.CreateDatabase(b)
	url := pg.URL(db)
	dbBytes := fillBenchDB(b, pg, db, max(1, 75/div), 0)
	backuptest.Fill(b, url, 3000)
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

	var plainTotal, drillTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, isDrill := range []bool{false, true, true, false} {
			if isDrill {
				drillTotal += drillOnce()
			} else {
				plainTotal += plain()
			}
		}
	}
	b.StopTimer()
	ratio := drillTotal.Seconds() / plainTotal.Seconds()
	b.ReportMetric(ratio, "drill/pg_restore")
	b.ReportMetric(drillTotal.Seconds()/float64(2*b.N), "drill-s")
	b.ReportMetric(plainTotal.Seconds()/float64(2*b.N), "pg_restore-s")
	b.ReportMetric(float64(res.Size)/(1<<20), "dump-MiB")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
	b.Logf("drill %.2fs, pg_restore alone %.2fs (ratio %.3f); dump %d MiB of a %d MiB database",
		drillTotal.Seconds()/float64(2*b.N), plainTotal.Seconds()/float64(2*b.N), ratio, res.Size>>20, dbBytes>>20)
	if div == 1 && ratio > 1.5 {
		b.Errorf("the drill took %.2f× the time of pg_restore alone, over the 1.5 bound", ratio)
	}
}
