package security_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// Passwords with characters that URLs escape, so that both spellings are
// looked for.
const (
	dbPassword     = "Db-pw:s3cr@t/1"
	targetPassword = "Tgt-pw?x=y#2"
	wrongPassword  = "Wrong-pw;guess&3"
)

// TestSecretsStayOut runs the agent's jobs with a password-protected
// database, an S3 secret key and a restore target with its own password,
// in good conditions and in bad ones (the bucket refusing everything, the
// database down, a wrong password). No secret may appear on standard
// output, in a log line (standard error, at debug level) or an error
// message, nor on the command line of pg_dump or pg_restore (recorded by
// wrappers around the real programs).
func TestSecretsStayOut(t *testing.T) {
	pg, db, _ := backuptest.NewBranchDB(t, 200)
	pg.CreatePasswordUser(t, db, "branch_pw", "placeholder")
	if err := pg.Exec(t.Context(), "postgres", `ALTER ROLE branch_pw PASSWORD '`+strings.ReplaceAll(dbPassword, "'", "''")+`'`); err != nil {
		t.Fatal(err)
	}
	dbURL := withPassword(t, pg.URL(db), "branch_pw", dbPassword)
	target := pg.CreateDatabase(t)
	pg.CreatePasswordUser(t, target, "target_pw", "placeholder")
	if err := pg.Exec(t.Context(), "postgres", `ALTER ROLE target_pw PASSWORD '`+strings.ReplaceAll(targetPassword, "'", "''")+`'`); err != nil {
		t.Fatal(err)
	}
	targetURL := withPassword(t, pg.URL(target), "target_pw", targetPassword)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	downURL := withPassword(t, "postgres://127.0.0.1:"+strconv.Itoa(port)+"/salon?sslmode=disable", "branch_pw", dbPassword)
	wrongURL := withPassword(t, pg.URL(db), "branch_pw", wrongPassword)

	srv := testenv.StartS3(t)
	denyAll := testenv.StartS3(t, testenv.WithMiddleware(func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<Error><Code>AccessDenied</Code><Message>denied</Message></Error>`))
		})
	}))
	tools := newToolRecorder(t, pg)
	env := backuptest.Env(dbURL, t.TempDir(), srv)
	env[options.EnvPGDumpPath] = tools.Dir
	env[cli.EnvRestoreTargetURL] = targetURL
	yesterday := time.Now().AddDate(0, 0, -1).Format(layout.DateFormat)

	secrets := []string{dbPassword, targetPassword, wrongPassword, testenv.S3SecretKey}
	for _, s := range []string{dbPassword, targetPassword, wrongPassword} {
		secrets = append(secrets, url.QueryEscape(s), url.PathEscape(s), (&url.URL{User: url.UserPassword("u", s)}).String())
	}
	noS3 := map[string]string{"BACKUP_S3_ENDPOINT": denyAll.URL}
	cases := []struct {
		name     string
		extra    map[string]string
		args     []string
		wantExit int
	}{
		{"backup", nil, []string{"backup"}, 0},
		{"verify", nil, []string{"verify"}, 0},
		{"restore", nil, []string{"restore", "--latest", "--yes"}, 0},
		{"cleanup", nil, []string{"cleanup"}, 0},
		{"summarize", nil, []string{"summarize", "--date", yesterday}, 0},
		{"push-metrics", nil, []string{"push-metrics", "--date", yesterday}, 0},
		{"catchup", nil, []string{"catchup"}, 0},
		{"backup, bucket refusing", noS3, []string{"backup"}, 1},
		{"restore, bucket refusing", map[string]string{"BACKUP_S3_ENDPOINT": denyAll.URL, "BACKUP_DIR": t.TempDir()}, []string{"restore", "--latest", "--yes"}, 1},
		{"cleanup, bucket refusing", noS3, []string{"cleanup"}, 1},
		{"push-metrics, bucket refusing", noS3, []string{"push-metrics", "--date", yesterday}, 1},
		{"backup, database down", map[string]string{options.EnvDatabaseURL: downURL}, []string{"backup"}, 1},
		{"verify, database down", map[string]string{options.EnvDatabaseURL: downURL}, []string{"verify"}, 1},
		{"summarize, database down", map[string]string{options.EnvDatabaseURL: downURL}, []string{"summarize", "--date", yesterday}, 1},
		{"backup, wrong password", map[string]string{options.EnvDatabaseURL: wrongURL}, []string{"backup"}, 1},
		{"restore, wrong target password", map[string]string{cli.EnvRestoreTargetURL: withPassword(t, pg.URL(target), "target_pw", wrongPassword)}, []string{"restore", "--latest", "--yes"}, 1},
		{"summarize, wrong password", map[string]string{options.EnvDatabaseURL: wrongURL}, []string{"summarize", "--date", yesterday}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runAgent(t, env, c.extra, c.args...)
			if res.code != c.wantExit {
				t.Errorf("agent %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), res.code, c.wantExit, res.stdout, res.stderr)
			}
			if c.wantExit != 0 && !strings.Contains(res.stderr, "agent "+c.args[0]+":") {
				t.Errorf("agent %s failed without a reason on standard error: %s", c.args[0], res.stderr)
			}
			for _, s := range secrets {
				if strings.Contains(res.stdout, s) || strings.Contains(res.stderr, s) {
					t.Errorf("agent %s printed the secret %q\nstdout: %s\nstderr: %s", c.args[0], s, res.stdout, res.stderr)
				}
			}
		})
	}

	lines := tools.CommandLines(t)
	for _, tool := range []string{"pg_dump ", "pg_restore "} {
		if !strings.Contains(lines, tool) {
			t.Errorf("%sran under no recorded command line: the check saw nothing\n%s", tool, lines)
		}
	}
	for _, s := range secrets {
		if strings.Contains(lines, s) {
			t.Errorf("a child process's command line holds the secret %q:\n%s", s, lines)
		}
	}
}
