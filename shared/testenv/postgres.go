// Package testenv starts the real services that tests talk to: a throwaway
// PostgreSQL cluster and an S3-protocol server on loopback. Nothing needs to
// be running beforehand; everything started is stopped when the test binary
// ends (use Main from TestMain).
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway cluster: initdb in a temporary directory, trust
// authentication on 127.0.0.1 and a free port. Roles in the group
// "pwusers" must authenticate with a password (scram), so that tests can
// check how passwords travel.
type Postgres struct {
	BinDir string
	Host   string
	Port   int
	Dir    string // data directory
	Socket string // unix socket directory
	Log    string // server log file

	cred  *syscall.Credential // run as this user when we are root
	watch *exec.Cmd           // the watchdog shell, stopped by Stop
	// watchDone is closed once the watchdog has exited and been reaped.
	watchDone chan struct{}
	mu        sync.Mutex
	seq       atomic.Int64
}

// Superuser is the cluster's superuser role.
const Superuser = "postgres"

// FindPostgresBin returns the directory holding initdb, pg_ctl and postgres:
// PATH first, then the newest /usr/lib/postgresql/<major>/bin.
func FindPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin: " +
		"install them, e.g. `apt-get install postgresql` (Debian) — the tests start their own throwaway cluster")
}

func pgMajor(p string) int {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if s == "postgresql" && i+1 < len(parts) {
			n, _ := strconv.Atoi(parts[i+1])
			return n
		}
	}
	return 0
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartPostgres creates and starts a new cluster. Stop it with Stop.
func StartPostgres() (*Postgres, error) {
	bin, err := FindPostgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "branchwatch-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{BinDir: bin, Host: "127.0.0.1", Dir: filepath.Join(dir, "data"), Socket: dir, Log: filepath.Join(dir, "server.log")}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the cluster as "postgres".
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a 'postgres' user to own the test cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := p.command("initdb", "-D", p.Dir, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	hba := "local all all trust\n" +
		"host all +pwusers 127.0.0.1/32 scram-sha-256\n" +
		"host all all 127.0.0.1/32 trust\n" +
		"host all all ::1/128 trust\n"
	if err := os.WriteFile(filepath.Join(p.Dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	if p.cred != nil {
		_ = os.Chown(filepath.Join(p.Dir, "pg_hba.conf"), int(p.cred.Uid), int(p.cred.Gid))
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p.Port = port
		if lastErr = p.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	p.watchdog()
	if err := p.Exec(context.Background(), "postgres", "CREATE ROLE pwusers NOLOGIN"); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.BinDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

func (p *Postgres) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB", p.Port, p.Socket)
	out, err := p.command("pg_ctl", "-D", p.Dir, "-l", p.Log, "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(p.Log)
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, tail(string(log), 2000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchdog starts a detached shell that stops the cluster and removes its
// files if this process dies without calling Stop (a test timeout, kill -9).
func (p *Postgres) watchdog() {
	script := fmt.Sprintf(`while [ -d /proc/%d ]; do sleep 1; done; `+
		`[ -f %[2]s/postmaster.pid ] && kill -QUIT "$(head -1 %[2]s/postmaster.pid)"; sleep 2; rm -rf %[3]s`,
		os.Getpid(), p.Dir, filepath.Dir(p.Dir))
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		p.watch, p.watchDone = cmd, reap(cmd)
	}
}

// reap waits for cmd in the background; the channel closes once it has
// exited and been reaped (gone from /proc).
func reap(cmd *exec.Cmd) chan struct{} {
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return done
}

// stopWatchdog kills a watchdog shell's session and waits until it is gone:
// a caller that checks right after Stop that nothing of the cluster runs
// must not find it (a signal is only acted on once the process is
// scheduled, which on a loaded machine takes a while).
func stopWatchdog(cmd *exec.Cmd, done chan struct{}) {
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Stop shuts the cluster down (fast mode) and removes its files. Safe to call twice.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Dir == "" {
		return
	}
	_ = p.command("pg_ctl", "-D", p.Dir, "-m", "immediate", "-w", "stop").Run()
	_ = os.RemoveAll(filepath.Dir(p.Dir))
	p.Dir = ""
	// Its work is done: stop it and its sleep (its own session) now,
	// rather than leave them running until this process exits.
	stopWatchdog(p.watch, p.watchDone)
}

// Restart stops the server (fast mode) and starts it again on the same port.
// Open connections are cut, as in a real server restart.
func (p *Postgres) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if out, err := p.command("pg_ctl", "-D", p.Dir, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return p.start()
}

// StopServer stops the server without removing it (the database becomes
// unreachable until StartServer).
func (p *Postgres) StopServer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if out, err := p.command("pg_ctl", "-D", p.Dir, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// StartServer starts a server stopped by StopServer.
func (p *Postgres) StartServer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.start()
}

// URL is a connection URL for database db as the superuser.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", Superuser, p.Host, p.Port, db)
}

// Exec runs SQL in database db as the superuser.
func (p *Postgres) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, p.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// CreateDatabase creates a fresh, empty database with a unique name and
// returns its name; it is dropped when the test ends.
func (p *Postgres) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), p.seq.Add(1))
	ctx := context.Background()
	if err := p.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		_ = p.Exec(context.Background(), "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return name
}

// CreatePasswordUser creates a login role that must give its password over
// TCP, and returns its connection URL for database db (password included).
func (p *Postgres) CreatePasswordUser(tb testing.TB, db, name, password string) string {
	tb.Helper()
	ctx := context.Background()
	id := pgx.Identifier{name}.Sanitize()
	if err := p.Exec(ctx, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s' IN ROLE pwusers", id, strings.ReplaceAll(password, "'", "''"))); err != nil {
		tb.Fatalf("create role %s: %v", name, err)
	}
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", name, password, p.Host, p.Port, db)
}

var (
	sharedPG     *Postgres
	sharedPGErr  error
	sharedPGOnce sync.Once
)

// PG returns the test binary's shared cluster, starting it on first use.
// A missing PostgreSQL installation fails the test (never skips it).
// Call Main from TestMain so that the cluster is stopped at the end.
func PG(tb testing.TB) *Postgres {
	tb.Helper()
	sharedPGOnce.Do(func() { sharedPG, sharedPGErr = StartPostgres() })
	if sharedPGErr != nil {
		tb.Fatalf("start throwaway PostgreSQL: %v", sharedPGErr)
	}
	return sharedPG
}

// NewDatabase is PG(tb) plus a fresh database; it returns the cluster and
// the database's URL.
func NewDatabase(tb testing.TB) (*Postgres, string) {
	tb.Helper()
	pg := PG(tb)
	return pg, pg.URL(pg.CreateDatabase(tb))
}

// Main runs the tests and then stops everything testenv started.
// Use it as: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if sharedPG != nil {
		sharedPG.Stop()
	}
	return code
}
