package pgtools

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// serviceName is the one service of the service file Command writes.
const serviceName = "branchwatch"

// serviceFile renders the connection's parameters, the password excepted,
// as a pg_service.conf with one service. A value a service file cannot
// carry (a line break, trailing blanks) is refused, naming the parameter
// and never quoting the value.
func (c Conn) serviceFile() ([]byte, error) {
	u := c.safe
	var kv [][2]string
	var hosts, ports []string
	if u.Host != "" {
		for _, hp := range strings.Split(u.Host, ",") {
			h, p, err := net.SplitHostPort(hp)
			if err != nil { // no port
				h, p = strings.Trim(hp, "[]"), ""
			}
			hosts, ports = append(hosts, h), append(ports, p)
		}
		kv = append(kv, [2]string{"host", strings.Join(hosts, ",")})
		if strings.Join(ports, "") != "" {
			kv = append(kv, [2]string{"port", strings.Join(ports, ",")})
		}
	}
	if u.User != nil && u.User.Username() != "" {
		kv = append(kv, [2]string{"user", u.User.Username()})
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		kv = append(kv, [2]string{"dbname", db})
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("the connection URL's parameters do not parse")
	}
	for name, vals := range q {
		if name == "password" || name == "service" || len(vals) == 0 {
			continue
		}
		kv = append(kv, [2]string{name, vals[len(vals)-1]})
	}
	var b strings.Builder
	b.WriteString("[" + serviceName + "]\n")
	for _, p := range kv {
		if strings.ContainsAny(p[0], "=[]\r\n \t") || p[0] == "" {
			return nil, fmt.Errorf("service file: %q is not a connection parameter name", p[0])
		}
		if strings.ContainsAny(p[1], "\r\n") || strings.TrimRight(p[1], " \t") != p[1] {
			return nil, fmt.Errorf("service file: the value of %s holds a line break or trailing blanks, which a service file cannot carry", p[0])
		}
		b.WriteString(p[0] + "=" + p[1] + "\n")
	}
	return []byte(b.String()), nil
}

// SecretsDirName is the directory, under BACKUP_DIR (or under
// $XDG_RUNTIME_DIR/branchwatch when that is set), that holds the passfiles
// and service files of running client programs.
const SecretsDirName = ".pgconn"

// SecretsDir is where the connection files of client programs go:
// $XDG_RUNTIME_DIR/branchwatch (a tmpfs cleared at logout and reboot) when
// set, else BACKUP_DIR/.pgconn. SweepSecrets empties it at start-up of
// what a killed agent left.
func SecretsDir(backupDir string) string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "branchwatch")
	}
	return filepath.Join(backupDir, SecretsDirName)
}

const connLock = ".lock"

// newConnDir makes a private directory under base for one program's
// connection files, holding an flock on it while the program runs: the
// kernel drops the lock when the agent dies, however it dies, which is how
// SweepSecrets tells a dead agent's files from a live one's.
func newConnDir(base string) (dir string, release func(), err error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", nil, err
	}
	dir, err = os.MkdirTemp(base, "conn-")
	if err != nil {
		return "", nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, connLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() { _ = os.RemoveAll(dir); _ = f.Close() }, nil
}

// SweepSecrets removes the connection files under base that no live
// process holds (left by an agent killed with SIGKILL or a power cut) and
// says which it removed.
func SweepSecrets(base string) ([]string, error) {
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", base, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "conn-") {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if held(dir) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// SweptSecretsDir is SecretsDir(dir), emptied by SweepSecrets of what a
// killed agent left there; what it removed or could not remove is logged.
func SweptSecretsDir(dir string, log *slog.Logger) string {
	secrets := SecretsDir(dir)
	removed, err := SweepSecrets(secrets)
	for _, d := range removed {
		log.Info("removed the connection files of a killed run", "dir", d)
	}
	if err != nil {
		log.Warn("could not remove the connection files of a killed run", "error", err)
	}
	return secrets
}

// held reports whether a live process holds dir's lock. A directory
// without a lock file is held for its first minute (it is being set up).
func held(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, connLock), os.O_RDWR, 0)
	if err != nil {
		fi, serr := os.Stat(dir)
		return serr == nil && time.Since(fi.ModTime()) < time.Minute
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
