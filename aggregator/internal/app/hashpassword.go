package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/branchwatch/branchwatch/aggregator/internal/options"
)

// hashCost is hash-password's default bcrypt cost: about 0.25 s a check
// on a small server, slow to guess, quick enough to log in.
const hashCost = 12

// hashPassword reads a password and prints its bcrypt hash. From a
// terminal it asks twice without echo; otherwise it reads the first line
// of stdin (a trailing newline is not part of the password). The password
// never reaches a command line or the output.
func hashPassword(stdin io.Reader, stdout, stderr io.Writer, cost int) int {
	if cost < 10 || cost > 14 {
		fmt.Fprintf(stderr, "aggregator hash-password: --cost %d is outside 10 to 14\n", cost)
		return 2
	}
	pw, err := readPassword(stdin, stderr)
	if err == nil && len(pw) == 0 {
		err = errors.New("the password is empty")
	}
	if err == nil && len(pw) > 72 {
		err = errors.New("the password is longer than 72 bytes, which bcrypt cannot check in full")
	}
	if err != nil {
		fmt.Fprintf(stderr, "aggregator hash-password: %v\n", err)
		return 1
	}
	hash, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		fmt.Fprintf(stderr, "aggregator hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(hash))
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Set it as %s (in single quotes in a shell or .env file: it holds $ signs).\n", options.EnvPasswordBcrypt)
	}
	return 0
}

func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Repeat:   ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the two passwords differ")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(stdin).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read password from standard input: %w", err)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
