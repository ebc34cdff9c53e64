package backup_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// agentMainEnv makes the test binary act as the agent binary, so that tests
// can run `agent backup` as a child process and kill it.
const agentMainEnv = "BRANCHWATCH_TEST_AGENT_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(agentMainEnv) == "1" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
	}
	os.Exit(testenv.Main(m))
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// baseTime is the test clock's start: 22:00:05 in Kolkata.
var baseTime = time.Date(2026, 2, 17, 16, 30, 5, 0, time.UTC)

// newRunner builds a Runner on env with a test clock and a log buffer.
func newRunner(t *testing.T, env map[string]string, st store.Store) (*backup.Runner, *clock, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	r, err := backup.New(backuptest.Options(t, env), st, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: baseTime}
	r.Now = c.Now
	return r, c, logs
}

// dirFiles lists the names in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// assertNoTemp fails when a temporary file is left in dir.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirFiles(t, dir) {
		if strings.HasPrefix(n, ".tmp-") {
			t.Errorf("temporary file %s left behind", n)
		}
	}
}

// dumpsIn lists this branch's dump names in dir.
func dumpsIn(t *testing.T, dir string) []string {
	t.Helper()
	ds, err := backup.ListLocal(dir, backuptest.Branch, kolkata(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func kolkata(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// dumpName is the dump name for time at in Kolkata.
func dumpName(t *testing.T, at time.Time) string {
	t.Helper()
	n, err := layout.DumpName(backuptest.Branch, at.In(kolkata(t)), false)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// backupKey is the bucket key of a dump taken at at.
func backupKey(t *testing.T, at time.Time, encrypted bool) string {
	t.Helper()
	k, err := layout.BackupKey(backuptest.Branch, at.In(kolkata(t)), encrypted)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// placeOldDump writes a fake dump (with its checksum file) taken at at.
func placeOldDump(t *testing.T, dir string, at time.Time) string {
	t.Helper()
	p := filepath.Join(dir, dumpName(t, at))
	if err := os.WriteFile(p, []byte("PGDMP old dump placeholder "+at.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	sum, _, err := backup.HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.WriteChecksum(p, sum); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(p)
}

// objectKeys lists every key under prefix.
func objectKeys(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range store.All(context.Background(), st, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
	return out
}
