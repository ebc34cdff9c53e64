package security_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// runningDaemon is `agent run` in-process, its log read as it is written.
type runningDaemon struct {
	addr   string
	cancel context.CancelFunc
	exit   chan int
	mu     sync.Mutex
	log    strings.Builder
}

// startDaemon starts `agent run` with env and returns once /metrics is
// served (the address comes from its log line).
func startDaemon(t *testing.T, env map[string]string) *runningDaemon {
	t.Helper()
	e := maps.Clone(env)
	e[options.EnvListen] = "127.0.0.1:0"
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDaemon{cancel: cancel, exit: make(chan int, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Msg, "serving /healthz and /metrics") {
				addr <- line.Addr
			}
		}
	}()
	go func() {
		d.exit <- cli.Main(ctx, []string{"run"}, io.Discard, pw, config.MapLookup(e))
		pw.Close()
	}()
	select {
	case d.addr = <-addr:
	case code := <-d.exit:
		cancel()
		t.Fatalf("agent run exited %d before serving: %s", code, d.Log())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("agent run did not serve /metrics within a minute")
	}
	t.Cleanup(func() {
		d.cancel()
		<-d.exit
	})
	return d
}

// Log is what the daemon logged so far.
func (d *runningDaemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// TestMetricsListener checks the agent's /healthz and /metrics listener
// against slow and oversized clients: headers sent one byte a second and
// a body dripping after complete headers are both cut off by the server's
// timeouts; oversized headers get 431. Its answers, and its log, hold no
// secret (the database password, with the database refusing it so that
// the start-up catch-up fails, and the S3 secret key).
func TestMetricsListener(t *testing.T) {
	pg, db, _ := backuptest.NewBranchDB(t, 50)
	pg.CreatePasswordUser(t, db, "daemon_pw", "Daemon-pw-secret-9")
	srv := testenv.StartS3(t)
	env := backuptest.Env(withPassword(t, pg.URL(db), "daemon_pw", "Wrong-daemon-pw-7"), t.TempDir(), srv)
	d := startDaemon(t, env)

	t.Run("answers hold no secret", func(t *testing.T) {
		var all strings.Builder
		get := func(p string) (int, string) {
			resp, err := http.Get("http://" + d.addr + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		code, body := get("/metrics")
		if code != http.StatusOK {
			t.Errorf("/metrics: status %d", code)
		}
		all.WriteString(body)
		// The database refuses the password: once the start-up checks
		// have run, /healthz answers 503 and names the failing setting.
		// Before that first round it may still say ok; wait for it.
		deadline := time.Now().Add(60 * time.Second)
		for {
			code, body = get("/healthz")
			if code == http.StatusServiceUnavailable || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "DATABASE_URL") {
			t.Errorf("/healthz with a refused password: status %d, %s (want 503 naming DATABASE_URL)", code, body)
		}
		all.WriteString(body)
		if !strings.Contains(all.String(), "branchwatch_agent_job_runs_total") {
			t.Errorf("/metrics lacks the job series: %.500s", all.String())
		}
		for _, s := range []string{"Daemon-pw-secret-9", "Wrong-daemon-pw-7", testenv.S3SecretKey} {
			if strings.Contains(all.String(), s) || strings.Contains(d.Log(), s) {
				t.Errorf("the secret %q is on /metrics, /healthz or in the log", s)
			}
		}
	})
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		held := dripUntilClosed(t, d.addr, "GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Slow: "+strings.Repeat("s", 200), 20*time.Second)
		t.Logf("slow headers cut off after %s", held.Round(time.Millisecond))
	})
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		held := dripUntilClosed(t, d.addr, "GET /metrics HTTP/1.1\r\nHost: agent\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("b", 1000), 20*time.Second)
		t.Logf("slow body cut off after %s", held.Round(time.Millisecond))
	})
	t.Run("oversized headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Big: %s\r\n\r\n", strings.Repeat("x", 2<<20))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to 2 MiB of headers: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MiB of headers: status %d, want 431", resp.StatusCode)
		}
	})
}

// dripUntilClosed sends msg one byte a second (after the first line, at
// once) and returns how long the server kept the connection; it fails the
// test when the server still holds it after limit.
func dripUntilClosed(t *testing.T, addr, msg string, limit time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	first, rest, _ := strings.Cut(msg, "\r\n")
	_, _ = conn.Write([]byte(first + "\r\n"))
	if i := strings.Index(rest, "\r\n\r\n"); i >= 0 {
		_, _ = conn.Write([]byte(rest[:i+4])) // complete headers at once: only the body drips
		rest = rest[i+4:]
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-tick.C:
		}
		if time.Since(start) > limit {
			t.Fatalf("a client sending one byte a second still connected after %s", time.Since(start).Round(time.Second))
		}
		_, _ = conn.Write([]byte{rest[i%len(rest)]})
	}
}
