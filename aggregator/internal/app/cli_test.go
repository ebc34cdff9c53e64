package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
)

func runMain(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := app.Main(context.Background(), args, &out, &errb, config.MapLookup(env))
	return code, out.String(), errb.String()
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	st, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, st)
	env := map[string]string{options.EnvBucketDir: dir, options.EnvDataDir: t.TempDir()}
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		csvLines int    // rows + header, when > 0
	}{
		{name: "help", args: []string{"help"}, code: 0, stdout: "aggregator export --from"},
		{name: "no command", code: 2, stderr: "commands:"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "serve help", args: []string{"help", "serve"}, code: 0, stdout: "-listen"},
		{name: "export help", args: []string{"export", "--help"}, code: 0},
		{name: "serve refuses to start without credentials", env: env, args: []string{"serve"}, code: 2, stderr: "no credentials configured"},
		{name: "serve without a bucket", env: map[string]string{options.EnvInsecureNoAuth: "true"}, args: []string{"serve"}, code: 2, stderr: "no bucket configured"},
		{name: "export every branch", env: env, args: []string{"export", "--from", "2026-02-12", "--to", "2026-02-16"}, code: 0, csvLines: 11},
		{name: "export one branch", env: env, args: []string{"export", "--from", "2026-02-15", "--to", "2026-02-16", "--branch", "andheri", "--units", "rupees"}, code: 0, csvLines: 3, stdout: ",125030.00,"},
		{name: "export unknown branch", env: env, args: []string{"export", "--from", "2026-02-12", "--to", "2026-02-16", "--branch", "nowhere"}, code: 1, stderr: `no branch "nowhere"`},
		{name: "export bad date", env: env, args: []string{"export", "--from", "2026-02-30", "--to", "2026-03-01"}, code: 2, stderr: "--from"},
		{name: "export without dates", env: env, args: []string{"export"}, code: 2, stderr: "--from"},
		{name: "digest of the headline date", env: env, args: []string{"digest"}, code: 0, stdout: "net revenue, "},
		{name: "digest of a date", env: env, args: []string{"digest", "--date", "2026-02-15"}, code: 0, stdout: "Branchwatch, Sun 15 Feb 2026: "},
		{name: "digest bad date", env: env, args: []string{"digest", "--date", "15/02/2026"}, code: 2, stderr: "--date"},
		{name: "bad digest time", env: map[string]string{options.EnvBucketDir: dir, options.EnvDataDir: t.TempDir(), options.EnvDigestTime: "nine"}, args: []string{"digest"}, code: 2, stderr: "DIGEST_TIME"},
		{name: "export flag overrides the environment", env: env, args: []string{"export", "--bucket-dir", t.TempDir(), "--from", "2026-02-12", "--to", "2026-02-16"}, code: 0, csvLines: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runMain(c.env, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errs)
			}
			if !strings.Contains(out, c.stdout) || !strings.Contains(errs, c.stderr) {
				t.Errorf("stdout %q / stderr %q, want %q / %q", out, errs, c.stdout, c.stderr)
			}
			if c.csvLines > 0 {
				recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				if err != nil || len(recs) != c.csvLines {
					t.Errorf("export wrote %d CSV lines (%v), want %d", len(recs), err, c.csvLines)
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestInsecureNoAuth: open only when told, and it says so at start.
func TestInsecureNoAuth(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	var logs syncBuffer
	r := start(t, st, map[string]string{
		options.EnvInsecureNoAuth: "true", options.EnvUser: "", options.EnvPasswordBcrypt: "", options.EnvToken: "",
	}, app.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	resp, _ := get(t, r.URL+"/api/v1/branches", noCred)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("insecure mode: status %d without credentials", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "AUTHENTICATION IS DISABLED") || !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("no warning logged at start:\n%s", logs.String())
	}
}
