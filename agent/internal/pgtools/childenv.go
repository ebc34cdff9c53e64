package pgtools

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// ChildEnv is the whole environment a PostgreSQL client program gets: the
// locale, time zone, PATH, HOME (libpq looks for ~/.postgresql/root.crt
// there) and TMPDIR of the agent, then extra. Nothing else of the agent's
// environment passes (DATABASE_URL, BACKUP_S3_SECRET_KEY, PGPASSWORD, the
// agent's own PG* variables): every connection parameter reaches the
// program through the service file and the passfile that Command writes.
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "HOME", name == "LANG", name == "LANGUAGE", name == "TZ", name == "TMPDIR",
			strings.HasPrefix(name, "LC_"):
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Run starts cmd, calls onStart (if set) with its process id, and waits
// for it, on one locked OS thread: the child's parent-death signal
// (Pdeathsig, set by Command) fires when the thread that started it ends,
// so the thread must outlive the child, and a locked thread does (Go never
// retires it while the goroutine holds it).
func Run(cmd *exec.Cmd, onStart func(pid int)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return err
	}
	if onStart != nil {
		onStart(cmd.Process.Pid)
	}
	return cmd.Wait()
}
