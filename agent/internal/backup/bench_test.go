package backup_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// benchDivisorEnv divides the benchmark's database sizes (for a quick look
// at the mechanics: the 1 GB figure holds only at 1, the default).
const benchDivisorEnv = "BRANCHWATCH_BENCH_DIVISOR"

// BenchmarkBackupVsPgDump measures the performance figure: the
// wall time of `agent backup` (dump, checks, upload to a loopback S3
// server in another process, confirmation) divided by that of a plain
// `pg_dump -Fc -f FILE` of the same database of at least 1 GB, in the same
// run; and the agent's peak memory (ru_maxrss of the agent process, which
// Linux reports as the larger of its own and its largest child's).
// Bounds (b.Fatalf), of the best of benchRuns runs: plain pg_dump's time
// plus the agent's own work (its wall time minus its pg_dump's, which
// includes writing and hashing the streamed dump) at most 1.02× plain
// pg_dump's time; peak < 100 MiB. The wall-time ratio is reported, not
// bounded: on a loaded machine two runs of the same pg_dump differ by more
// than 2%.
//
// Two databases: pgbench's (its filler compresses to almost nothing, so
// the dump is small) and one with a table of random-looking text beside a
// smaller pgbench set, whose dump is a few hundred MB and makes the upload
// count.
func BenchmarkBackupVsPgDump(b *testing.B) {
	div := benchDivisor(b)
	bin := b.TempDir()
	agent := goBuild(b, bin, "github.com/branchwatch/branchwatch/agent/cmd/agent")
	fakes3 := goBuild(b, bin, "github.com/branchwatch/branchwatch/shared/cmd/fakes3")
	cases := []struct {
		name    string
		scale   int // pgbench scale
		hexRows int // rows of 128 hex digits in an extra table
	}{
		{"pgbench-1.1GB", 75, 0},
		{"pgbench+text-1.1GB", 60, 1_200_000},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchBackup(b, agent, fakes3, max(1, tc.scale/div), tc.hexRows/div, div == 1)
		})
	}
}

func benchBackup(b *testing.B, agent, fakes3 string, scale, hexRows int, full bool) {
	pg := testenv.PG(b)
	db := pg.CreateDatabase(b)
	url := pg.URL(db)
	ctx := context.Background()
	dbBytes := fillBenchDB(b, pg, db, scale, hexRows)
	if full && dbBytes < 1<<30 {
		b.Fatalf("benchmark database is %d MiB, below 1 GiB", dbBytes>>20)
	}
	endpoint := startFakeS3(b, fakes3)
	server, err := pgtools.ServerVersion(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	pgDump, err := pgtools.NewFinder("", "").Find(ctx, "pg_dump", server)
	if err != nil {
		b.Fatal(err)
	}

	plain := func(dir string) (time.Duration, int64) {
		file := filepath.Join(dir, "plain.dump")
		start := time.Now()
		out, err := exec.Command(pgDump.Path, "-Fc", "-f", file, "--dbname="+url).CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("pg_dump: %v: %s", err, out)
		}
		fi, err := os.Stat(file)
		if err != nil {
			b.Fatal(err)
		}
		_ = os.Remove(file)
		return took, fi.Size()
	}
	backup := func(dir string) (took time.Duration, rss int64, overhead time.Duration) {
		cmd := exec.Command(agent, "backup")
		cmd.Env = append(os.Environ(),
			"DATABASE_URL="+url, "BRANCH_ID=bench", "BACKUP_DIR="+dir,
			"BACKUP_S3_ENDPOINT="+endpoint, "BACKUP_S3_BUCKET="+testenv.S3Bucket,
			"BACKUP_S3_ACCESS_KEY="+testenv.S3AccessKey, "BACKUP_S3_SECRET_KEY="+testenv.S3SecretKey,
			"BACKUP_S3_FORCE_PATH_STYLE=true", "PG_DUMP_PATH="+pgDump.Path, "LOG_LEVEL=debug")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took = time.Since(start)
		if err != nil {
			b.Fatalf("agent backup: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "uploaded to bench/backups/") {
			b.Fatalf("agent backup did not upload:\n%s", out)
		}
		b.Logf("agent backup took %s:\n%s", took, out)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss << 10
		}
		return took, rss, took - pgDumpDuration(b, out)
	}

	// A run times one plain pg_dump and one agent backup of the same
	// database, alternating which goes first so that a machine getting
	// busier or quieter weighs on both sides alike. The best of benchRuns
	// runs of each is kept (the best ratio of a pair would favour a run
	// where pg_dump alone was slowed by other work).
	var peak, dumpBytes int64
	plainBest, agentBest, overheadBest := math.Inf(1), math.Inf(1), math.Inf(1)
	b.ResetTimer()
	for range b.N {
		for run := range benchRuns {
			dir := b.TempDir()
			loadBefore := loadAvg(b)
			for _, agentTurn := range []bool{run%2 == 1, run%2 == 0} {
				if agentTurn {
					took, rss, overhead := backup(filepath.Join(dir, "agent"))
					agentBest, overheadBest = min(agentBest, took.Seconds()), min(overheadBest, overhead.Seconds())
					peak = max(peak, rss)
					b.Logf("run %d: agent backup %.2fs, of which %.2fs beside its pg_dump", run+1, took.Seconds(), overhead.Seconds())
					continue
				}
				took, size := plain(dir)
				plainBest, dumpBytes = min(plainBest, took.Seconds()), size
				b.Logf("run %d: plain pg_dump %.2fs", run+1, took.Seconds())
			}
			b.Logf("run %d: load average %s before, %s after", run+1, loadBefore, loadAvg(b))
			_ = os.RemoveAll(dir)
		}
	}
	b.StopTimer()
	ratio := agentBest / plainBest
	// The agent's own work (start-up, checks, upload, manifest) beside its
	// pg_dump, added to plain pg_dump's time: less sensitive than the wall
	// ratio to other load on the machine, which slows the agent's pg_dump
	// and the plain one by different amounts.
	overheadRatio := (plainBest + overheadBest) / plainBest
	b.ReportMetric(ratio, "agent/pg_dump")
	b.ReportMetric(plainBest, "pg_dump-s")
	b.ReportMetric(agentBest, "agent-s")
	b.ReportMetric(overheadBest, "agent-overhead-s")
	b.ReportMetric(overheadRatio, "overhead-ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(dumpBytes)/(1<<20), "dump-MiB")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
	b.Logf("best of %d: agent/pg_dump %.3f (overhead ratio %.3f): pg_dump %.2fs, agent %.2fs, agent's own work %.2fs; peak %d MiB; dump %d MiB",
		benchRuns, ratio, overheadRatio, plainBest, agentBest, overheadBest, peak>>20, dumpBytes>>20)
	if peak >= 100<<20 {
		b.Fatalf("agent peak memory %d MiB is over the 100 MiB bound", peak>>20)
	}
	// Issue 16: the agent's own work at most 2% of plain pg_dump's time
	// on a database of at least 1 GB (on small ones fixed start-up costs
	// dominate).
	if full && overheadRatio > maxOverheadRatio {
		b.Fatalf("agent backup: pg_dump's best %.2fs plus the agent's own work %.2fs is %.3f× plain pg_dump -Fc -f, over the %.2f bound (wall-time ratio %.3f)",
			plainBest, overheadBest, overheadRatio, maxOverheadRatio, ratio)
	}
}

const (
	// benchRuns is how many runs the best is taken of.
	benchRuns = 3
	// maxOverheadRatio bounds (plain pg_dump + the agent's own work) /
	// plain pg_dump.
	maxOverheadRatio = 1.02
)

// loadAvg is the first three fields of /proc/loadavg ("?" without it).
func loadAvg(b *testing.B) string {
	b.Helper()
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// pgDumpDuration reads how long the agent's pg_dump ran from its debug log.
func pgDumpDuration(b *testing.B, logs []byte) time.Duration {
	b.Helper()
	return logDuration(b, string(logs), "pg_dump_duration")
}

// logDuration reads the first duration logged under field in a JSON log.
func logDuration(b *testing.B, logs, field string) time.Duration {
	b.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if s, ok := rec[field].(string); ok && s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				b.Fatal(err)
			}
			return d
		}
	}
	b.Fatalf("the log does not say %s", field)
	return 0
}

// benchDivisor is BRANCHWATCH_BENCH_DIVISOR, 1 when unset.
func benchDivisor(b *testing.B) int {
	b.Helper()
	s := os.Getenv(benchDivisorEnv)
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a whole number ≥ 1", benchDivisorEnv, s)
	}
	return n
}

// fillBenchDB fills db with pgbench's tables at scale plus hexRows rows of
// random-looking text, reads every table once (so that neither timed dump
// starts with colder caches than the other) and returns the database size.
func fillBenchDB(b *testing.B, pg *testenv.Postgres, db string, scale, hexRows int) int64 {
	b.Helper()
	cmd := exec.Command(filepath.Join(pg.BinDir, "pgbench"), "-i", "-q", "-s", strconv.Itoa(scale),
		"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", testenv.Superuser, db)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v: %s", err, out)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL(db))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	stmts := []string{
		"CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL)",
		`INSERT INTO notes SELECT i, md5('a' || i) || md5('b' || i) || md5('c' || i) || md5('d' || i)
		 FROM generate_series(1, $1::int) AS i`,
		"VACUUM ANALYZE",
	}
	for _, s := range stmts {
		var args []any
		if strings.Contains(s, "$1") {
			args = []any{hexRows}
		}
		if _, err := conn.Exec(ctx, s, args...); err != nil {
			b.Fatalf("fill benchmark database: %v", err)
		}
	}
	for _, t := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "notes"} {
		if _, err := conn.Exec(ctx, "SELECT count(*) FROM "+t); err != nil {
			b.Fatalf("warm %s: %v", t, err)
		}
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
		b.Fatal(err)
	}
	return size
}

// goBuild builds a main package of the workspace into dir.
func goBuild(b *testing.B, dir, pkg string) string {
	b.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	if msg, err := exec.Command(goTool, "build", "-o", out, pkg).CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v: %s", pkg, err, msg)
	}
	return out
}

// startFakeS3 runs the standalone S3 server on a free loopback port and
// returns its endpoint; it is stopped when the benchmark ends.
func startFakeS3(b *testing.B, bin string) string {
	b.Helper()
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-bucket", testenv.S3Bucket)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, url, ok := strings.Cut(sc.Text(), " on "); ok && strings.HasPrefix(url, "http://") {
			go func() {
				for sc.Scan() { // keep draining so the server never blocks on stderr
				}
			}()
			return url
		}
	}
	b.Fatal(fmt.Errorf("fakes3 did not start"))
	return ""
}
