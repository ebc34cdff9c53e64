package index_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/benchbound"
)

// largest is the largest chain: 5,000 branches × 3 years, with
// 90 backups each.
var largest = fixture.Bucket{Branches: 5000, Days: 1095, Backups: 90, LastDate: "2026-02-16", BackupBytes: 1 << 30}

// childEnv makes this test binary a child that builds or loads the index
// and reports its whole-process memory: the parent's own allocations
// (other benchmarks, the test framework) must not count.
const childEnv = "BRANCHWATCH_INDEX_RSS_CHILD"

type childReport struct {
	Docs       int
	Seconds    float64 // building, or loading the snapshot
	SaveSecs   float64
	RSS, HWM   int64 // VmRSS after runtime.GC, and VmHWM (the peak)
	IndexBytes int64 // the documents' columns
}

func init() {
	mode, dir, ok := strings.Cut(os.Getenv(childEnv), ":")
	if !ok {
		return
	}
	var r childReport
	var x *index.Index
	start := time.Now()
	switch mode {
	case "build":
		x = largest.Index(time.Date(2026, 2, 17, 12, 0, 0, 0, fixture.IST))
		r.Seconds = time.Since(start).Seconds()
	case "load":
		var err error
		if x, err = index.Load(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.Seconds = time.Since(start).Seconds()
	}
	runtime.GC()
	debug.FreeOSMemory()
	r.RSS, r.HWM = procStatus("VmRSS"), procStatus("VmHWM")
	if mode == "build" {
		start = time.Now()
		if err := index.Save(dir, x); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.SaveSecs = time.Since(start).Seconds()
		r.HWM = procStatus("VmHWM") // saving counts too: the aggregator saves after every sync
	}
	r.Docs = x.Documents()
	for _, b := range x.Branches {
		r.IndexBytes += int64(b.Docs.Bytes())
	}
	runtime.KeepAlive(x)
	_ = json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

// procStatus reads a kB figure of /proc/self/status, in bytes.
func procStatus(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func runChild(b *testing.B, mode, dir string) childReport {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode+":"+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v", mode, err)
	}
	var r childReport
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("%s child said %q: %v", mode, out, err)
	}
	return r
}

// BenchmarkIndex5000x1095: the whole process's memory with 5,000
// branches × 1,095 days (5.48 M documents) and 90 backups each loaded,
// built in process from generated documents and then saved as a
// snapshot, and loaded from that snapshot by a fresh process. Bound
// (issue 16): at most 1 GiB, the peak (VmHWM) counting the save; the
// lowest of benchbound.Runs fresh loads. Memory does not depend on the
// machine's speed: the bound is absolute.
func BenchmarkIndex5000x1095(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		built := runChild(b, "build", dir)
		want := largest.Branches * largest.Days
		if built.Docs != want {
			b.Fatalf("built %d documents, want %d", built.Docs, want)
		}
		var loaded childReport
		hwm := benchbound.Lowest(func(int) float64 {
			r := runChild(b, "load", dir)
			if r.Docs != want {
				b.Fatalf("loaded %d documents, want %d", r.Docs, want)
			}
			if loaded.HWM == 0 || r.HWM < loaded.HWM {
				loaded = r
			}
			return float64(r.HWM) / (1 << 20)
		})
		if fi, err := os.Stat(dir + "/" + index.SnapshotFile); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-snapshot")
		}
		b.ReportMetric(float64(built.IndexBytes)/float64(built.Docs), "column-bytes/doc")
		b.ReportMetric(built.Seconds, "s-build")
		b.ReportMetric(built.SaveSecs, "s-save")
		b.ReportMetric(float64(built.RSS)/(1<<20), "MiB-rss-built")
		b.ReportMetric(float64(built.HWM)/(1<<20), "MiB-peak-built+saved")
		b.ReportMetric(loaded.Seconds, "s-load")
		b.ReportMetric(float64(loaded.RSS)/(1<<20), "MiB-rss-loaded")
		b.ReportMetric(hwm, "MiB-peak-loaded")
		b.Logf("built %d documents in %.1fs (%.1f column bytes each), RSS %d MiB after GC; saved in %.1fs, peak %d MiB; loaded in %.2fs, RSS %d MiB, peak %.0f MiB",
			built.Docs, built.Seconds, float64(built.IndexBytes)/float64(built.Docs), built.RSS>>20, built.SaveSecs, built.HWM>>20,
			loaded.Seconds, loaded.RSS>>20, hwm)
		benchbound.AtMost(b, benchbound.Figure{Name: "peak RSS building and saving 5,000 × 1,095", Value: float64(built.HWM) / (1 << 20), Unit: "MiB"}, 1024)
		benchbound.AtMost(b, benchbound.Figure{Name: "peak RSS loading the snapshot of 5,000 × 1,095", Value: hwm, Unit: "MiB"}, 1024)
	}
}
