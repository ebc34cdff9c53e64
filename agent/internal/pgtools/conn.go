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
	"syscall"
	"time"
)

// Conn is a connection URL split into the part that may appear on a command
// line or in a log line and the password, which travels only in a private
// passfile.
type Conn struct {
	safe       *url.URL // no password anywhere
	password   string
	hasPass    bool
	secretsDir string
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

// User is the URL's user name ("" when it names none).
func (c Conn) User() string {
	if c.safe == nil || c.safe.User == nil {
		return ""
	}
	return c.safe.User.Username()
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

// WithSecretsDir is the same connection whose programs keep their
// connection files under dir (see SecretsDir); "" is the system's
// temporary directory.
func (c Conn) WithSecretsDir(dir string) Conn {
	c.secretsDir = dir
	return c
}

// Command prepares tool to run against the connection with
// "--dbname=service=branchwatch" first, then args: every connection
// parameter is in a service file (PGSERVICEFILE) and the password in a
// passfile (PGPASSFILE), both readable only by this user, in a fresh
// directory under the connection's secrets directory. Nothing of the URL
// reaches the command line, and the program's environment is ChildEnv
// (none of the agent's secrets). Start it with Run, which makes it die with
// the agent (Pdeathsig). Call cleanup after the program exited; a killed
// agent's files are removed by SweepSecrets at its next start. Cancelling
// ctx kills the program.
func (c Conn) Command(ctx context.Context, tool string, args ...string) (cmd *exec.Cmd, cleanup func(), err error) {
	if c.safe == nil {
		return nil, nil, errors.New("no connection")
	}
	if c.hasPass && strings.ContainsAny(c.password, "\r\n") {
		return nil, nil, errors.New("passfile: the password holds a line break, which a passfile cannot carry")
	}
	service, err := c.serviceFile()
	if err != nil {
		return nil, nil, err
	}
	base := c.secretsDir
	if base == "" {
		base = filepath.Join(os.TempDir(), fmt.Sprintf("branchwatch-%d", os.Getuid()))
	}
	dir, cleanup, err := newConnDir(base)
	if err != nil {
		return nil, nil, fmt.Errorf("connection files: %w", err)
	}
	sf := filepath.Join(dir, "pg_service.conf")
	env := ChildEnv("PGSERVICEFILE="+sf, "PGCONNECT_TIMEOUT=30", "PGAPPNAME=branchwatch-agent")
	if err := os.WriteFile(sf, service, 0o600); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("service file: %w", err)
	}
	if c.hasPass {
		pf := filepath.Join(dir, "pgpass")
		if err := os.WriteFile(pf, []byte("*:*:*:*:"+escapePass(c.password)+"\n"), 0o600); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("passfile: %w", err)
		}
		env = append(env, "PGPASSFILE="+pf)
	}
	cmd = exec.CommandContext(ctx, tool, append([]string{"--dbname=service=" + serviceName}, args...)...)
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, cleanup, nil
}

// escapePass escapes a password for a .pgpass line.
func escapePass(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(p)
}
