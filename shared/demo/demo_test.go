package demo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// buildBinaries builds the agent and the aggregator from this repository
// into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([][]byte, 2)
	for i, m := range []struct{ module, pkg, name string }{
		{"agent", "./cmd/agent", "agent"},
		{"aggregator", "./cmd/aggregator", "aggregator"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-o", filepath.Join(bin, m.name), m.pkg)
			cmd.Dir = filepath.Join(root, m.module)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("go build: %v\n%s", errs[i], outs[i])
		}
	}
	return bin
}

// syncWriter collects the demo's screen output.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDemoHeadless runs the demo twice on the same directory (the second
// run must work on what the first one left) and checks each time that the
// dashboard answers with the three branches and exactly one alert, that
// credentials are required, and that Stop leaves nothing running. The
// first run also checks that the healthy branches' figures look like a
// real chain's (checkBusiness).
func TestDemoHeadless(t *testing.T) {
	bin := buildBinaries(t)
	dir := t.TempDir()
	for _, run := range []string{"first run", "second run on the same directory"} {
		t.Run(run, func(t *testing.T) {
			out := &syncWriter{}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			d, err := Start(ctx, Options{Dir: dir, BinDir: bin, Listen: "127.0.0.1:0", Days: 35, Out: out})
			if err != nil {
				t.Fatalf("start: %v\n%s", err, out)
			}
			stopped := false
			defer func() {
				if !stopped {
					d.Stop()
				}
				if t.Failed() {
					t.Logf("demo output:\n%s\naggregator log:\n%s", out, tailFile(filepath.Join(dir, "logs", "aggregator.log"), 40))
				}
			}()
			pgDir, s3URL, aggPid := d.pg.Dir, d.s3.URL, d.agg.cmd.Process.Pid

			checkDashboard(t, ctx, d.URL)
			if run == "first run" {
				checkBusiness(t, ctx, d)
				// The stale branch's metrics going down is an alert, delivered
				// to the webhook (a later run remembers it was sent).
				select {
				case text := <-d.AlertArrivals():
					if !strings.Contains(text, "branch-powai") && !strings.Contains(text, "Powai") {
						t.Errorf("alert %q does not name the stale branch", text)
					}
				case <-time.After(30 * time.Second):
					t.Errorf("no alert reached the webhook in 30s (received: %q)", d.Alerts())
				}
			}
			d.printSummary(ctx, 0)
			if s := out.String(); !strings.Contains(s, "user:     demo") || !strings.Contains(s, d.URL) {
				t.Errorf("the demo does not print the address and credentials:\n%s", s)
			}

			// The listener check below can see the S3 server's socket.
			if _, port, _ := net.SplitHostPort(strings.TrimPrefix(s3URL, "http://")); !ownListener(t, port) {
				t.Errorf("no listening socket of this process found for the running S3 server %s", s3URL)
			}
			d.Stop()
			stopped = true
			checkNothingRunning(t, bin, pgDir, s3URL, d.URL, aggPid)
		})
	}
}

func checkDashboard(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	list, err := Branches(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]BranchState{}
	for _, b := range list {
		ids[b.ID] = b
	}
	var failing []string
	for _, want := range DefaultBranches {
		b, ok := ids[want.ID]
		if !ok {
			t.Errorf("the dashboard does not list %s (it lists %d branches)", want.ID, len(list))
			continue
		}
		if b.Name != want.Name {
			t.Errorf("%s is named %q, want %q", b.ID, b.Name, want.Name)
		}
		for _, c := range b.Failing() {
			failing = append(failing, b.ID+" "+c.Name+" "+c.State+": "+c.Reason)
		}
	}
	if len(list) != len(DefaultBranches) {
		t.Errorf("the dashboard lists %d branches, want %d", len(list), len(DefaultBranches))
	}
	if len(failing) != 1 || !strings.HasPrefix(failing[0], "branch-powai metrics down") {
		t.Errorf("failing checks = %q, want exactly one: branch-powai's metrics down", failing)
	}
	// Every route but /healthz needs the credentials.
	for _, c := range []struct {
		path string
		want int
	}{{BranchesPath, http.StatusUnauthorized}, {"/healthz", http.StatusOK}} {
		resp, err := http.Get(url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s without credentials: %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
}

// checkNothingRunning: after Stop no process of the demo is left, its ports
// are closed and the throwaway cluster's files are gone.
func checkNothingRunning(t *testing.T, bin, pgDir, s3URL, dashURL string, aggPid int) {
	t.Helper()
	if err := syscall.Kill(aggPid, 0); err == nil {
		t.Errorf("the aggregator (pid %d) still runs", aggPid)
	}
	// The S3 server runs in this process, the dashboard in the aggregator
	// (checked dead above): no socket of this process may still listen on
	// either port. A dial would not do: on a busy machine another program
	// may be given the freed port at once.
	for _, u := range []string{s3URL, dashURL} {
		addr := strings.TrimPrefix(u, "http://")
		_, port, _ := net.SplitHostPort(addr)
		if ownListener(t, port) {
			t.Errorf("%s is still listened on by the demo", addr)
		}
	}
	if _, err := os.Stat(pgDir); !os.IsNotExist(err) {
		t.Errorf("the throwaway cluster's directory %s is still there (%v)", pgDir, err)
	}
	// No process whose command line names the demo's binaries or cluster.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, bin) || strings.Contains(cmdline, filepath.Dir(pgDir)) {
			t.Errorf("still running after Stop: %s (%s)", cmdline, p)
		}
	}
}

// ownListener says whether a socket of this process listens on TCP port
// (decimal), from /proc/net/tcp{,6} and /proc/self/fd.
func ownListener(t *testing.T, port string) bool {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("bad port %q", port)
	}
	hexPort := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			// local_address st ... inode: fields 1, 3 and 9; 0A is LISTEN.
			if len(fields) > 9 && strings.HasSuffix(fields[1], hexPort) && fields[3] == "0A" {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
	}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			return true
		}
	}
	return false
}
