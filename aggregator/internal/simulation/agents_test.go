package simulation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

// buildAgent builds the agent binary from the agent module (a sibling of
// this one) into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	return buildInAgentModule(t, "./cmd/agent", "agent")
}

// buildInAgentModule builds pkg in the agent module into a temporary
// directory, as name.
func buildInAgentModule(t *testing.T, pkg, name string) string {
	t.Helper()
	dir, err := filepath.Abs("../../../agent")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// branch is one simulated branch: its database and its agent's settings.
type branch struct {
	ID, Name string
	DB       string // database name on the shared cluster
	URL      string
	Dir      string // BACKUP_DIR
	Env      map[string]string
}

// agentRun is the outcome of one agent command.
type agentRun struct {
	Args           []string
	Exit           int
	Stdout, Stderr string
	Killed         bool
}

func (r agentRun) String() string {
	return fmt.Sprintf("agent %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Exit, r.Stdout, tail(r.Stderr, 3000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// agents runs agent commands as child processes, each under a simulated
// clock, and counts them.
type agents struct {
	bin string

	runs, failures, reruns atomic.Int64

	mu      sync.Mutex
	uploads []string // keys the agents said they stored
}

// run runs one command of b's agent with the clock at now. onStart, when
// set, receives the process once it runs (to kill it).
func (a *agents) run(ctx context.Context, b *branch, now time.Time, onStart func(*os.Process), args ...string) agentRun {
	env := maps.Clone(b.Env)
	env["BRANCHWATCH_FAKE_NOW"] = now.Format(time.RFC3339)
	cmd := exec.CommandContext(ctx, a.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=UTC"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	res := agentRun{Args: args}
	a.runs.Add(1)
	if err := cmd.Start(); err != nil {
		res.Exit, res.Stderr = -1, err.Error()
		return res
	}
	if onStart != nil {
		onStart(cmd.Process)
	}
	err := cmd.Wait()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Exit = ee.ExitCode()
		res.Killed = ee.ExitCode() == -1
	default:
		res.Exit, res.Stderr = -1, err.Error()+"\n"+res.Stderr
	}
	if res.Exit != 0 {
		a.failures.Add(1)
	}
	a.noteUploads(res.Stdout)
	return res
}

// stored matches what the agent prints for an object it stored.
var stored = regexp.MustCompile(`(?:pushed to|uploaded to) (\S+/(?:metrics|backups)/\S+)`)

func (a *agents) noteUploads(stdout string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range stored.FindAllStringSubmatch(stdout, -1) {
		a.uploads = append(a.uploads, m[1])
	}
}

// Uploads are the keys the agents reported as stored.
func (a *agents) Uploads() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.uploads...)
}

// each runs fn for every branch, at most parallel at a time, and returns
// once all are done.
func each(bs []*branch, parallel int, fn func(i int, b *branch)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i, b)
		}()
	}
	wg.Wait()
}

// newBranch creates b's database on the cluster and its settings.
func newBranch(t *testing.T, pg *testenv.Postgres, i int, s3env map[string]string) *branch {
	t.Helper()
	b := &branch{ID: fmt.Sprintf("branch-%02d", i+1), Dir: t.TempDir()}
	b.Name = []string{"Andheri West", "Bandra — Linking Rd", "Colaba Causeway", "Dadar (East)", "सैलून Powai"}[i%5]
	if i >= 5 {
		b.Name += fmt.Sprintf(" %d", i/5+1)
	}
	b.DB = pg.CreateDatabase(t)
	b.URL = pg.URL(b.DB)
	b.Env = map[string]string{
		"DATABASE_URL":    b.URL,
		"BRANCH_ID":       b.ID,
		"BRANCH_NAME":     b.Name,
		"BRANCH_TIMEZONE": "Asia/Kolkata",
		"BACKUP_DIR":      b.Dir,
		"AGENT_LISTEN":    "",
		"LOG_LEVEL":       "info",
	}
	maps.Copy(b.Env, s3env)
	b.Env["BACKUP_S3_ACCESS_KEY"] = agentAccessKey
	return b
}
