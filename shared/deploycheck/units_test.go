package deploycheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hardening is what every unit must set, with the value it must have.
var hardening = map[string]string{
	"NoNewPrivileges":         "yes",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectControlGroups":    "yes",
	"RestrictSUIDSGID":        "yes",
	"RestrictNamespaces":      "yes",
	"LockPersonality":         "yes",
	"CapabilityBoundingSet":   "",
	"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
	"UMask":                   "0077",
}

func TestSystemdUnits(t *testing.T) {
	root := repoRoot(t)
	cases := []struct {
		name    string
		file    string
		exec    string // ExecStart
		envFile string
		// dirVar is the variable naming the one directory the service writes;
		// ReadWritePaths must cover the value the unit gives it.
		dirVar string
	}{
		{"agent", "deploy/systemd/branchwatch-agent.service", "/usr/local/bin/agent run", "/etc/branchwatch/agent.env", "BACKUP_DIR"},
		{"aggregator", "deploy/systemd/branchwatch-aggregator.service", "/usr/local/bin/aggregator serve", "/etc/branchwatch/aggregator.env", "AGGREGATOR_DATA_DIR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(root, tc.file)
			u, err := ParseUnit(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"Unit", "Service", "Install"} {
				if u[s] == nil {
					t.Errorf("no [%s] section", s)
				}
			}
			if got := u.Get("Service", "ExecStart"); got != tc.exec {
				t.Errorf("ExecStart = %q, want %q", got, tc.exec)
			}
			if got := u.Get("Service", "EnvironmentFile"); got != tc.envFile {
				t.Errorf("EnvironmentFile = %q, want %q", got, tc.envFile)
			}
			if u.Get("Service", "User") == "" || u.Get("Service", "User") == "root" {
				t.Errorf("User = %q, want an unprivileged user", u.Get("Service", "User"))
			}
			if got := u.Get("Install", "WantedBy"); got != "multi-user.target" {
				t.Errorf("WantedBy = %q", got)
			}
			for k, want := range hardening {
				vals, ok := u["Service"][k]
				if !ok {
					t.Errorf("hardening: %s= missing", k)
					continue
				}
				if got := vals[len(vals)-1]; got != want {
					t.Errorf("hardening: %s=%s, want %s", k, got, want)
				}
			}
			dir := u.Environment()[tc.dirVar]
			if dir == "" {
				t.Fatalf("the unit sets no default %s (Environment=%s=...)", tc.dirVar, tc.dirVar)
			}
			if rw := strings.Fields(u.Get("Service", "ReadWritePaths")); !contains(rw, dir) {
				t.Errorf("ReadWritePaths = %v does not cover %s=%s: ProtectSystem=strict would make it read-only", rw, tc.dirVar, dir)
			}
			systemdVerify(t, path)
		})
	}
}

// systemdVerify runs systemd-analyze verify when the host has it (the Go
// checks above run everywhere). The binary is swapped for /bin/true, since
// the unit's own is not installed here; every other line is checked as is.
func systemdVerify(t *testing.T, path string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed: unit checked by the Go parser only")
		return
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ExecStart=\S+`)
	if !re.Match(body) {
		t.Fatal("no ExecStart line to check")
	}
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, re.ReplaceAll(body, []byte("ExecStart=/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(sa, "verify", "--man=no", tmp)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	// verify exits 0 on unknown keys and bad values: any message about the
	// unit file is a failure.
	if msg := strings.TrimSpace(out.String()); err != nil || strings.Contains(msg, filepath.Base(path)) {
		t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(path), err, msg)
	}
}

// The parser must reject what systemd would misread.
func TestParseUnitRejects(t *testing.T) {
	cases := []struct{ name, body string }{
		{"key outside a section", "Description=x\n[Unit]\n"},
		{"garbage line", "[Service]\nExecStart /bin/true\n"},
		{"duplicate section", "[Service]\nUser=a\n[Service]\nUser=b\n"},
		{"continuation", "[Service]\nExecStart=/bin/true \\\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.service")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ParseUnit(p); err == nil {
				t.Errorf("accepted %q", tc.body)
			}
		})
	}
}
