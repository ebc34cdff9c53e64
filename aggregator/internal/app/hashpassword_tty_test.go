package app_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// openPTY opens a pseudo-terminal pair: the test types into master, the
// command reads its terminal from slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("WARNING: no pseudo-terminals here (%v): the no-echo path is not checked", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestHashPasswordFromTerminal: on a terminal the password is asked twice
// and never echoed; two different entries are refused.
func TestHashPasswordFromTerminal(t *testing.T) {
	for _, tc := range []struct {
		name, first, second string
		code                int
	}{
		{"typed twice", "tty-Pa55 word", "tty-Pa55 word", 0},
		{"typed differently", "tty-Pa55 word", "tty-Pa55 w0rd", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPTY(t)
			shown := &syncBuffer{} // what the terminal displays: its echo
			go func() {
				buf := make([]byte, 1024)
				for {
					k, err := master.Read(buf)
					_, _ = shown.Write(buf[:k])
					if err != nil {
						return
					}
				}
			}()
			var out bytes.Buffer
			errb := &syncBuffer{}
			done := make(chan int, 1)
			go func() {
				done <- app.MainInput(context.Background(), []string{"hash-password", "--cost", "10"}, slave, &out, errb, config.MapLookup(nil))
			}()
			// Type each line once its prompt is shown and echo is off, as a
			// person would.
			echoOff := func() bool {
				tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
				return err == nil && tio.Lflag&unix.ECHO == 0
			}
			for _, step := range []struct{ prompt, line string }{{"Password:", tc.first}, {"Repeat:", tc.second}} {
				testenv.WaitFor(t, step.prompt+" with echo off", 20*time.Second, func() bool {
					return strings.Contains(errb.String(), step.prompt) && echoOff()
				})
				if _, err := master.WriteString(step.line + "\n"); err != nil {
					t.Fatal(err)
				}
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("hash-password did not finish")
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errb.String())
			}
			time.Sleep(100 * time.Millisecond) // let the reader take any echo
			if strings.Contains(shown.String(), "Pa55") {
				t.Errorf("the terminal echoed the password: %q", shown.String())
			}
			if tc.code == 0 && bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out.String())), []byte(tc.first)) != nil {
				t.Errorf("%q is not a hash of the typed password", out.String())
			}
		})
	}
}
