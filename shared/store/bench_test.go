package store_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/benchbound"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// The S3 server runs in a separate process (this test binary re-executed),
// so that the peak memory measured is the uploading side's alone.
func init() {
	if addr := os.Getenv("BRANCHWATCH_BENCH_S3_SERVER"); addr != "" {
		ready := make(chan string, 1)
		go func() { fmt.Println("LISTEN", <-ready) }()
		if err := testenv.ServeS3(context.Background(), addr, "", testenv.S3Bucket, ready); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func startServerProcess(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BRANCHWATCH_BENCH_S3_SERVER=127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			return "http://" + addr
		}
	}
	b.Fatal("server process did not start")
	return ""
}

// streamReader yields n pseudo-random bytes without holding them.
type streamReader struct {
	r *rand.ChaCha8
	n int64
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	n, _ := s.r.Read(p)
	s.n -= int64(n)
	return n, nil
}

// BenchmarkS3UploadUnknownSize256MiB uploads a 256 MiB stream of unknown
// length through the S3 store to a loopback server in another process and
// reports throughput and this process's peak memory. Bound (issue 2): peak
// memory under 96 MiB, the lowest peak of benchbound.Runs uploads.
func BenchmarkS3UploadUnknownSize256MiB(b *testing.B) {
	const size = 256 << 20
	opts := testenv.StartS3(b).Options() // for credentials and bucket only
	opts.Endpoint = startServerProcess(b)
	s, err := store.NewS3(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(size)
	var peak, rate float64
	for b.Loop() {
		rate = 0
		peak = benchbound.Lowest(func(run int) float64 {
			runtime.GC()
			benchbound.ResetPeakRSS()
			src := &streamReader{r: rand.NewChaCha8([32]byte{byte(run)}), n: size}
			h := sha256.New()
			start := time.Now()
			info, err := s.Put(ctx, fmt.Sprintf("bench/backups/big-%d.bin", run), io.TeeReader(src, h), store.PutOptions{Size: -1})
			elapsed := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if info.Size != size {
				b.Fatalf("stored %d bytes", info.Size)
			}
			rate = max(rate, size/elapsed.Seconds()/1e6)
			return float64(benchbound.PeakRSS()) / (1 << 20)
		})
	}
	b.ReportMetric(rate, "MB/s")
	b.ReportMetric(peak, "peak-MiB")
	benchbound.AtMost(b, benchbound.Figure{Name: "upload peak RSS", Value: peak, Unit: "MiB"}, 96)
}
