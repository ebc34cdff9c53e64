package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// outageLength is the outage: every S3 request answers 503 for
// the first minute of `agent backup`.
const outageLength = 60 * time.Second

// BenchmarkBackupAfterOutage measures the issue's figure: "a 60 s outage
// at the start of `agent backup` delays the confirmed cloud copy by at
// most 60 s plus one backoff step". It runs `agent backup` (in process,
// the product's real S3 client settings: 1 s doubling to 30 s over 10
// attempts) twice in the same run against a loopback S3 server: once as a
// baseline, once with every request answered 503 for the first 60 s. The
// delay is the difference of the two wall times; the bound is
// delay ≤ 60 s + 30 s (DefaultS3MaxBackoff, the longest step), reported as
// the ratio delay / bound, which must stay ≤ 1. Each run must make exactly
// one dump.
func BenchmarkBackupAfterOutage(b *testing.B) {
	_, _, url := backuptest.NewBranchDB(b, 2000)
	for range b.N {
		base := runBackupCommand(b, url, 0)
		hit := runBackupCommand(b, url, outageLength)
		delay := hit - base
		bound := outageLength + store.DefaultS3MaxBackoff
		b.ReportMetric(base.Seconds(), "baseline_s")
		b.ReportMetric(hit.Seconds(), "after_outage_s")
		b.ReportMetric(delay.Seconds(), "delay_s")
		b.ReportMetric(delay.Seconds()/bound.Seconds(), "delay/bound")
		// One run, not the best of benchbound.Runs: the outage is a minute
		// of real time, and the figure is the product's backoff, not the
		// machine's speed (every run measured, busy machine or quiet, left
		// 16 s or more of the bound).
		b.Logf("a %s outage delayed the confirmed copy by %s (baseline %s, with the outage %s)", outageLength, delay.Round(time.Millisecond), base.Round(time.Millisecond), hit.Round(time.Millisecond))
		benchbound.AtMost(b, benchbound.Figure{Name: fmt.Sprintf("delay of the confirmed copy after a %s outage", outageLength), Value: delay.Seconds(), Unit: "s"}, bound.Seconds())
	}
}

// runBackupCommand runs `agent backup` against a fresh S3 server that is
// down for the first outage of the run, and returns its wall time.
func runBackupCommand(b *testing.B, url string, downFor time.Duration) time.Duration {
	b.Helper()
	var down atomic.Bool
	down.Store(downFor > 0)
	srv := testenv.StartS3(b, testenv.WithMiddleware(outage(&down)))
	env := backuptest.Env(url, b.TempDir(), srv)
	env["LOG_LEVEL"] = "info"
	var stdout, stderr bytes.Buffer
	began := time.Now()
	if downFor > 0 {
		time.AfterFunc(downFor, func() { down.Store(false) })
	}
	code := cli.Main(context.Background(), []string{"backup"}, &stdout, &stderr, config.MapLookup(env))
	took := time.Since(began)
	if code != 0 || !strings.Contains(stdout.String(), "uploaded to") {
		b.Fatalf("agent backup exited %d: %s\n%s", code, stdout.String(), stderr.String())
	}
	if n := strings.Count(stderr.String(), `"msg":"dump started"`); n != 1 {
		b.Fatalf("%d dumps, want exactly 1", n)
	}
	if downFor > 0 && !strings.Contains(stderr.String(), `"msg":"S3 request failed, retrying"`) {
		b.Fatalf("the outage left no retry in the log:\n%s", stderr.String())
	}
	if os.Getenv("BRANCHWATCH_BENCH_VERBOSE") != "" {
		b.Logf("outage %s: %s\n%s", downFor, took, stderr.String())
	}
	return took
}
