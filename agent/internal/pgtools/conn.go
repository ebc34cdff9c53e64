package pgtools

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Conn is a connection URL split into the part that may appear on a command
// line or in a log line and the password, which travels only in a private
// passfile.
type Conn struct {
	safe     *url.URL // no password anywhere
	password string
	hasPass  bool
}

// ParseConn splits a postgres:// (or postgresql://) URL. The error never
// quotes the URL.
func ParseConn(raw string) (Conn, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return Conn{}, errors.New("not a postgres:// connection URL")
	}
	c := Conn{}
	if u.User != nil {
		c.password, c.hasPass = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		c.password, c.hasPass = q.Get("password"), true
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	c.safe = u
	return c, nil
}

// String is the URL without its password.
func (c Conn) String() string {
	if c.safe == nil {
		return ""
	}
	return c.safe.String()
}

// Database is the database name of the URL.
func (c Conn) Database() string {
	if c.safe == nil {
		return ""
	}
	return strings.TrimPrefix(c.safe.Path, "/")
}

// WithDatabase is the same connection to another database.
func (c Conn) WithDatabase(db string) Conn {
	u := *c.safe
	u.Path = "/" + db
	u.RawPath = ""
	c.safe = &u
	return c
}

// URL is the full connection URL, password included, for in-process
// drivers (pgx) only: never log it, never pass it to a child process.
func (c Conn) URL() string {
	if c.safe == nil {
		return ""
	}
	if !c.hasPass {
		return c.safe.String()
	}
	u := *c.safe
	u.User = url.UserPassword(c.safe.User.Username(), c.password)
	return u.String()
}

// Command prepares tool to run against the connection: "--dbname=URL"
// (without the password) comes first, then args. The password, if any, is
// written to a passfile readable only by this user in a fresh directory and
// reaches the program through PGPASSFILE; an inherited PGPASSWORD, which
// would take precedence, is dropped. Call cleanup after the program exited.
// Cancelling ctx kills the program.
func (c Conn) Command(ctx context.Context, tool string, args ...string) (cmd *exec.Cmd, cleanup func(), err error) {
	if c.safe == nil {
		return nil, nil, errors.New("no connection")
	}
	cleanup = func() {}
	env := os.Environ()
	if c.hasPass {
		if strings.ContainsAny(c.password, "\r\n") {
			return nil, nil, errors.New("passfile: the password holds a line break, which a passfile cannot carry")
		}
		dir, err := os.MkdirTemp("", "branchwatch-pgpass-")
		if err != nil {
			return nil, nil, fmt.Errorf("passfile: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		pf := filepath.Join(dir, "pgpass")
		if err := os.WriteFile(pf, []byte("*:*:*:*:"+escapePass(c.password)+"\n"), 0o600); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("passfile: %w", err)
		}
		env = withoutVars(env, "PGPASSWORD", "PGPASSFILE")
		env = append(env, "PGPASSFILE="+pf)
	}
	if !hasVar(env, "PGCONNECT_TIMEOUT") {
		env = append(env, "PGCONNECT_TIMEOUT=30")
	}
	if !hasVar(env, "PGAPPNAME") {
		env = append(env, "PGAPPNAME=branchwatch-agent")
	}
	cmd = exec.CommandContext(ctx, tool, append([]string{"--dbname=" + c.String()}, args...)...)
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	return cmd, cleanup, nil
}

// escapePass escapes a password for a .pgpass line.
func escapePass(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(p)
}

func withoutVars(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		drop := false
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
