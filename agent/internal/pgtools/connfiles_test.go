package pgtools

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommandKeepsEveryParameterOffTheCommandLine: whatever the URL holds,
// the command line names only the service; the service file holds every
// parameter but the password, the passfile the password; the environment
// is ChildEnv's and none of the agent's secrets.
func TestCommandKeepsEveryParameterOffTheCommandLine(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://salon:agent-env-secret@db/salon")
	t.Setenv("BACKUP_S3_SECRET_KEY", "s3-secret-in-agent-env")
	t.Setenv("PGPASSWORD", "inherited-pgpassword")
	t.Setenv("LC_ALL", "C.UTF-8")
	cases := []struct {
		name, raw   string
		wantService []string // lines after [branchwatch], any order
		wantPass    string   // "" when no passfile
	}{
		{"every kind of parameter",
			"postgres://salon:pw%3Ax@db.local:6432/salon?sslmode=verify-full&sslpassword=key-pass-phrase&sslkey=/k.pem&application_name=bw",
			[]string{"host=db.local", "port=6432", "user=salon", "dbname=salon", "sslmode=verify-full", "sslpassword=key-pass-phrase", "sslkey=/k.pem", "application_name=bw"},
			`*:*:*:*:pw\:x`},
		{"several hosts", "postgresql://u@h1:5432,h2:5433/d?target_session_attrs=read-write&password=qpw",
			[]string{"host=h1,h2", "port=5432,5433", "user=u", "dbname=d", "target_session_attrs=read-write"}, "*:*:*:*:qpw"},
		{"unix socket, no password", "postgres:///salon?host=/var/run/postgresql",
			[]string{"dbname=salon", "host=/var/run/postgresql"}, ""},
		{"ipv6", "postgres://u:p@[::1]:5432/d", []string{"host=::1", "port=5432", "user=u", "dbname=d"}, "*:*:*:*:p"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConn(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			base := t.TempDir()
			cmd, cleanup, err := c.WithSecretsDir(base).Command(context.Background(), "/bin/true", "--list")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"/bin/true", "--dbname=service=branchwatch", "--list"}; !slices.Equal(cmd.Args, want) {
				t.Errorf("command line %q, want %q", cmd.Args, want)
			}
			env := map[string]string{}
			for _, kv := range cmd.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
				for _, secret := range []string{"agent-env-secret", "s3-secret-in-agent-env", "inherited-pgpassword", "key-pass-phrase"} {
					if strings.Contains(kv, secret) {
						t.Errorf("the environment carries %s", kv)
					}
				}
			}
			if env["LC_ALL"] != "C.UTF-8" || env["PATH"] == "" {
				t.Errorf("the locale or PATH did not pass: %v", cmd.Env)
			}
			sf := env["PGSERVICEFILE"]
			if filepath.Dir(filepath.Dir(sf)) != base {
				t.Fatalf("service file %s is not under %s", sf, base)
			}
			b, err := os.ReadFile(sf)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if lines[0] != "[branchwatch]" {
				t.Fatalf("service file starts %q", lines[0])
			}
			if got, want := slices.Sorted(slices.Values(lines[1:])), slices.Sorted(slices.Values(tc.wantService)); !slices.Equal(got, want) {
				t.Errorf("service file %q, want %q", got, want)
			}
			if strings.Contains(string(b), "password=") && !strings.Contains(string(b), "sslpassword=") {
				t.Error("the password is in the service file")
			}
			pf, hasPF := env["PGPASSFILE"]
			if tc.wantPass == "" {
				if hasPF {
					t.Errorf("PGPASSFILE %s without a password", pf)
				}
			} else {
				got, err := os.ReadFile(pf)
				if err != nil || strings.TrimSpace(string(got)) != tc.wantPass {
					t.Errorf("passfile %q (%v), want %q", got, err, tc.wantPass)
				}
				if fi, err := os.Stat(pf); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("passfile mode: %v %v", fi, err)
				}
			}
			if fi, err := os.Stat(sf); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("service file mode: %v %v", fi, err)
			}
			// Another process's live files are not swept; after cleanup nothing is left.
			if removed, err := SweepSecrets(base); err != nil || len(removed) != 0 {
				t.Errorf("the sweep removed live files: %v %v", removed, err)
			}
			cleanup()
			if entries, _ := os.ReadDir(base); len(entries) != 0 {
				t.Errorf("left behind after cleanup: %v", entries)
			}
		})
	}
}

func TestServiceFileRefusesWhatItCannotCarry(t *testing.T) {
	c, err := ParseConn("postgres://u@h/d?sslpassword=a%0Ab")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.WithSecretsDir(t.TempDir()).Command(context.Background(), "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "sslpassword") || strings.Contains(err.Error(), "a\nb") {
		t.Fatalf("error %v, want one naming sslpassword without its value", err)
	}
}

// TestSweepRemovesOnlyDeadFiles: a directory whose lock no process holds
// (its agent was killed) is removed; one held is kept.
func TestSweepRemovesOnlyDeadFiles(t *testing.T) {
	base := t.TempDir()
	live, release, err := newConnDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dead := filepath.Join(base, "conn-dead")
	if err := os.MkdirAll(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{connLock, "pgpass"} {
		if err := os.WriteFile(filepath.Join(dead, f), []byte("*:*:*:*:pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := SweepSecrets(base)
	if err != nil || !slices.Equal(removed, []string{dead}) {
		t.Fatalf("removed %v (%v), want %s", removed, err, dead)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("the live directory was swept: %v", err)
	}
}

func TestSecretsDir(t *testing.T) {
	cases := []struct{ xdg, backupDir, want string }{
		{"", "/backups", "/backups/.pgconn"},
		{"/run/user/1000", "/backups", "/run/user/1000/branchwatch"},
	}
	for _, tc := range cases {
		t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
		if got := SecretsDir(tc.backupDir); got != tc.want {
			t.Errorf("XDG_RUNTIME_DIR=%q: SecretsDir(%q) = %q, want %q", tc.xdg, tc.backupDir, got, tc.want)
		}
	}
}
