package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
)

// streamed is what came through pg_dump's standard output: its length and
// SHA-256, computed from the bytes as they were written to the dump file.
type streamed struct {
	size   int64
	sha256 string
}

const (
	// copyBufSize is the read buffer of the copy, and the pipe's capacity
	// asked for (the Linux default, 64 KiB, wakes the agent more often).
	copyBufSize = 1 << 20
	// writebackEvery starts the kernel's write-back of each stretch this
	// long while the dump is still coming, so that the final fsync has
	// little left to flush.
	writebackEvery = 8 << 20
)

// openDumpFile opens a file of the dump step: os.OpenFile unless a test
// set Runner.openFile to see every open.
func (r *Runner) openDumpFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if r.openFile != nil {
		return r.openFile(name, flag, perm)
	}
	return os.OpenFile(name, flag, perm)
}

// runPgDump runs pg_dump writing the custom-format archive to its standard
// output, a pipe the agent reads: each chunk is written to f and hashed in
// the same pass, so the file is never read back to hash it. A failed write
// (a full disk) stops pg_dump.
func (r *Runner) runPgDump(ctx context.Context, tool pgtools.Tool, f *os.File, extra ...string) (streamed, error) {
	// A table locked by someone else (ACCESS EXCLUSIVE) makes pg_dump fail
	// after this wait rather than hang the backup.
	wait := r.LockWaitTimeout
	if wait <= 0 {
		wait = DefaultLockWaitTimeout
	}
	args := append([]string{"--format=custom", fmt.Sprintf("--lock-wait-timeout=%d", wait.Milliseconds())}, extra...)
	dumpCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd, cleanup, err := r.conn.Command(dumpCtx, tool.Path, args...)
	if err != nil {
		return streamed{}, fmt.Errorf("backup: pg_dump: %w", err)
	}
	defer cleanup()
	pr, pw, err := os.Pipe()
	if err != nil {
		return streamed{}, fmt.Errorf("backup: pg_dump: %w", err)
	}
	defer pr.Close()
	growPipe(pw)
	stderr := &pgtools.TailBuffer{}
	cmd.Stdout, cmd.Stderr = pw, stderr

	type copyResult struct {
		s   streamed
		err error
	}
	copied := make(chan copyResult, 1)
	go func() {
		s, err := copyHashed(f, pr)
		if err != nil {
			stop() // pg_dump must not go on writing into a pipe nobody reads
		}
		copied <- copyResult{s, err}
	}()
	runErr := pgtools.Run(cmd, func(pid int) {
		// Only pg_dump holds the write end now: its exit ends the copy.
		_ = pw.Close()
		if r.OnDumpStart != nil {
			r.OnDumpStart(pid)
		}
	})
	_ = pw.Close() // when pg_dump did not start
	c := <-copied
	if c.err != nil {
		return c.s, r.writeError("write dump", c.err)
	}
	if runErr != nil {
		if errors.Is(runErr, exec.ErrNotFound) || errors.Is(runErr, os.ErrNotExist) {
			return c.s, fmt.Errorf("backup: start pg_dump: %w", runErr)
		}
		if ctx.Err() == nil && strings.Contains(stderr.String(), "LOCK TABLE") && strings.Contains(stderr.String(), "timeout") {
			return c.s, fmt.Errorf("backup: pg_dump gave up after waiting %s for a table that another session holds locked (lock wait timeout): %s",
				wait, pgtools.ExitError(ctx, "pg_dump", runErr, stderr))
		}
		return c.s, fmt.Errorf("backup: %w (after %d bytes of dump)", pgtools.ExitError(ctx, "pg_dump", runErr, stderr), c.s.size)
	}
	return c.s, nil
}

// copyHashed copies src to f until EOF, hashing each chunk as it is
// written, and asks the kernel to start writing each stretch of
// writebackEvery bytes to disk (sync_file_range, no wait): the caller's
// fsync then finds little to flush.
func copyHashed(f *os.File, src io.Reader) (streamed, error) {
	h := sha256.New()
	buf := make([]byte, copyBufSize)
	fd := int(f.Fd())
	var n, started int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, err := f.Write(buf[:k]); err != nil {
				return streamed{size: n}, err
			}
			h.Write(buf[:k])
			n += int64(k)
			if n-started >= writebackEvery {
				// Best effort: the fsync after the dump is what counts.
				_ = unix.SyncFileRange(fd, started, n-started, unix.SYNC_FILE_RANGE_WRITE)
				started = n
			}
		}
		if rerr == io.EOF {
			return streamed{size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
		}
		if rerr != nil {
			return streamed{size: n}, fmt.Errorf("read pg_dump's output: %w", rerr)
		}
	}
}

// growPipe asks for a pipe of copyBufSize bytes (best effort: the
// default is kept when the system refuses).
func growPipe(p *os.File) {
	if sc, err := p.SyscallConn(); err == nil {
		_ = sc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, copyBufSize) })
	}
}
