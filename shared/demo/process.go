package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is a child program: an agent command run to completion, or the
// aggregator left running. Its output goes to a log file under the demo
// directory, so the screen shows only the demo's own lines.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // valid once done is closed
}

// childAttrs puts a child in its own process group (Ctrl-C reaches only
// the demo, which stops everything in order) and has the kernel kill it if
// the demo dies without stopping it.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// start launches bin with args and env (a complete environment: nothing of
// the caller's leaks in), its output appended to logPath.
func start(name, bin string, args, env []string, logPath string) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "\n== %s: %s %s\n", time.Now().Format(time.RFC3339), filepath.Base(bin), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// wait waits for the process to exit. When ctx ends first the process is
// stopped (SIGTERM, then SIGKILL after grace) and ctx's error returned.
func (p *process) wait(ctx context.Context, grace time.Duration) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.stop(grace)
		return ctx.Err()
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v; last lines of %s:\n%s", p.name, p.err, p.log, tailFile(p.log, 12))
	}
	return nil
}

// stop sends SIGTERM to the process group, waits up to grace for the exit,
// then kills the group. Safe to call more than once and after the exit.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// run starts a command and waits for it.
func run(ctx context.Context, name, bin string, args, env []string, logPath string) error {
	p, err := start(name, bin, args, env, logPath)
	if err != nil {
		return err
	}
	return p.wait(ctx, 15*time.Second)
}

// tailFile returns the last n lines of a file, indented.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// errInUse says that another demo holds the directory.
var errInUse = errors.New("in use by another demo")
