package deploycheck

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// composeCommand finds a compose client that can check a file without a
// Docker engine: Debian's docker-compose, or the docker compose plugin.
// Missing both fails the test where BRANCHWATCH_REQUIRE_TOOLS=1 (.ci/run sets
// it and installs docker-compose); elsewhere the test is skipped with a line
// on standard error that `make test` shows, so it is never skipped silently.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.Command(p, "compose", "version").Run() == nil {
			return []string{p, "compose"}
		}
	}
	msg := "no compose client: install one (Debian: apt-get install docker-compose) — " +
		"`docker-compose -f FILE config` checks a compose file without a Docker engine"
	if os.Getenv("BRANCHWATCH_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "WARNING: %s: SKIPPED: %s\n", t.Name(), msg)
	t.Skip(msg)
	return nil
}

// composeConfig runs `compose -f file config` with env added to a clean
// environment and returns the resolved file, or the client's complaint.
func composeConfig(t *testing.T, file string, env map[string]string) (map[string]any, string, error) {
	t.Helper()
	argv := append(composeCommand(t), "-f", file, "config")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.TempDir() // no stray .env of the caller's
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("compose config output is not YAML: %v\n%s", err, stdout.String())
	}
	return doc, stderr.String(), nil
}

// dig walks nested maps: dig(doc, "services", "agent", "image").
func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// volumeTargets lists the container paths a service mounts, whatever the
// short or long syntax the client printed.
func volumeTargets(svc any) []string {
	var out []string
	list, _ := dig(svc, "volumes").([]any)
	for _, v := range list {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) >= 2 {
				out = append(out, parts[1])
			}
		case map[string]any:
			if s, ok := v["target"].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func envOf(svc any) map[string]string {
	out := map[string]string{}
	switch e := dig(svc, "environment").(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = strings.ReplaceAll(toString(v), "$$", "$")
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(toString(kv), "=")
			out[k] = strings.ReplaceAll(v, "$$", "$")
		}
	}
	return out
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := yaml.Marshal(v)
		return strings.TrimSpace(string(b))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestComposeFilesAreValid(t *testing.T) {
	root := repoRoot(t)
	secret := filepath.Join(t.TempDir(), "postgres_password.txt")
	if err := os.WriteFile(secret, []byte("not-a-real-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		file   string
		env    map[string]string
		verify func(t *testing.T, doc map[string]any)
	}{
		{
			name: "branch",
			file: "deploy/branch/compose.yaml",
			env: map[string]string{
				"PG_MAJOR":               "15",
				"AGENT_ENV_FILE":         filepath.Join(root, "deploy/env/agent.env.example"),
				"POSTGRES_PASSWORD_FILE": secret,
			},
			verify: func(t *testing.T, doc map[string]any) {
				if s := keys(dig(doc, "services")); len(s) != 2 || !contains(s, "postgres") || !contains(s, "agent") {
					t.Errorf("services = %v, want postgres and agent", s)
				}
				agent := dig(doc, "services", "agent")
				if got := volumeTargets(agent); !contains(got, "/backups") {
					t.Errorf("agent mounts %v, want a volume on /backups", got)
				}
				if !contains(keys(dig(doc, "volumes")), "backups") {
					t.Errorf("no named volume 'backups': %v", keys(dig(doc, "volumes")))
				}
				// The agent's pg_dump and the server must be the same major version.
				if got := toString(dig(agent, "build", "args", "PG_MAJOR")); got != "15" {
					t.Errorf("agent build arg PG_MAJOR = %q, want 15 from the environment", got)
				}
				if got := toString(dig(doc, "services", "postgres", "image")); got != "postgres:15" {
					t.Errorf("postgres image = %q, want postgres:15", got)
				}
				checkBuild(t, root, agent, "deploy/docker/agent.Dockerfile")
				env := envOf(agent)
				for k, want := range map[string]string{"BACKUP_DIR": "/backups", "BRANCH_ID": "branch-andheri", "BRANCH_NAME": "Andheri West"} {
					if env[k] != want {
						t.Errorf("agent env %s = %q, want %q (from the compose file and agent.env.example)", k, env[k], want)
					}
				}
				if _, ok := dig(doc, "services", "postgres", "environment", "POSTGRES_PASSWORD").(string); ok {
					t.Error("the database password is in postgres' environment: it must come from the secret file")
				}
			},
		},
		{
			name: "central",
			file: "deploy/central/compose.yaml",
			env:  map[string]string{"AGGREGATOR_ENV_FILE": filepath.Join(root, "deploy/env/aggregator.env.example")},
			verify: func(t *testing.T, doc map[string]any) {
				if s := keys(dig(doc, "services")); len(s) != 1 || !contains(s, "aggregator") {
					t.Errorf("services = %v, want aggregator", s)
				}
				agg := dig(doc, "services", "aggregator")
				if got := volumeTargets(agg); !contains(got, "/data") {
					t.Errorf("aggregator mounts %v, want a volume on /data", got)
				}
				checkBuild(t, root, agg, "deploy/docker/aggregator.Dockerfile")
				env := envOf(agg)
				if env["AGGREGATOR_DATA_DIR"] != "/data" {
					t.Errorf("AGGREGATOR_DATA_DIR = %q, want /data (the volume)", env["AGGREGATOR_DATA_DIR"])
				}
				// The bcrypt hash must survive the env file literally.
				if h := env["DASHBOARD_PASSWORD_BCRYPT"]; !strings.HasPrefix(h, "$2y$12$") {
					t.Errorf("DASHBOARD_PASSWORD_BCRYPT reads as %q: the env file's quoting is wrong", h)
				}
				if ports := toString(dig(agg, "ports")); !strings.Contains(ports, "127.0.0.1") {
					t.Errorf("aggregator published on %s, want the host's loopback by default", ports)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, stderr, err := composeConfig(t, filepath.Join(root, tc.file), tc.env)
			if err != nil {
				t.Fatalf("compose config %s: %v\n%s", tc.file, err, stderr)
			}
			tc.verify(t, doc)
		})
	}
}

// checkBuild asserts that a service builds from the repository root with the
// given Dockerfile, and that the file exists.
func checkBuild(t *testing.T, root string, svc any, dockerfile string) {
	t.Helper()
	ctxDir := toString(dig(svc, "build", "context"))
	if filepath.Clean(ctxDir) != filepath.Clean(root) {
		t.Errorf("build context = %q, want the repository root %q", ctxDir, root)
	}
	if got := toString(dig(svc, "build", "dockerfile")); got != dockerfile {
		t.Errorf("dockerfile = %q, want %q", got, dockerfile)
	}
	if !isFile(filepath.Join(root, dockerfile)) {
		t.Errorf("%s does not exist", dockerfile)
	}
}

// The checker must be able to fail: files that compose rejects.
func TestComposeConfigRejectsBrokenFiles(t *testing.T) {
	cases := []struct {
		name, file string
	}{
		{"undeclared named volume", "testdata/bad/undeclared-volume.yaml"},
		{"unknown service key", "testdata/bad/unknown-key.yaml"},
		{"not yaml", "testdata/bad/not-yaml.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			abs, err := filepath.Abs(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := composeConfig(t, abs, nil); err == nil {
				t.Errorf("compose config accepted %s", tc.file)
			}
		})
	}
}
