package cli

import (
	"bytes"
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/doctor"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestDatabaseURLNeverLeaks feeds malformed and failing DATABASE_URLs
// through `agent backup`, `agent doctor` and `agent run` and looks for
// the password's pieces (and, for a URL that does not parse, the user
// name) in everything they print.
func TestDatabaseURLNeverLeaks(t *testing.T) {
	pg, dbURL := testenv.NewDatabase(t)
	db := strings.TrimSuffix(dbURL[strings.LastIndex(dbURL, "/")+1:], "?sslmode=disable")
	role := uniqueRole("leakuser")
	pg.CreatePasswordUser(t, db, role, "Right-pw-1")
	hostPort := pg.Host + ":" + strconv.Itoa(pg.Port)
	port, _ := testenv.FreePort()
	down := "127.0.0.1:" + strconv.Itoa(port)
	srv := testenv.StartS3(t)

	cases := []struct {
		name   string
		url    string
		pieces []string // none may appear
		// malformed: refused at start (exit 2) naming DATABASE_URL and
		// the advice to percent-encode.
		malformed bool
	}{
		{"hash and slash and at in the password", "postgres://salonuser:p@ss#w0rd/x@" + hostPort + "/db",
			[]string{"p@ss", "ss#w0rd", "w0rd", "salonuser", "x@" + pg.Host}, true},
		{"two colons", "postgres://salonuser:pa:ss@" + hostPort + "/db", []string{"pa:ss", "salonuser"}, true},
		{"bad escape", "postgres://salonuser:p%zzword@" + hostPort + "/db", []string{"p%zz", "zzword", "salonuser"}, true},
		{"slash and question mark", "postgres://salonuser:se/cr?et@" + hostPort + "/db", []string{"se/cr", "cr?et", "salonuser"}, true},
		{"encoded password, server down", "postgres://salonuser:S3cr%40t%23pw@" + down + "/db?sslmode=disable",
			[]string{"S3cr@t#pw", "S3cr%40t%23pw", "S3cr"}, false},
		{"wrong encoded password", "postgres://" + role + ":Wr0ng%2Fpw%3Fx@" + hostPort + "/" + db + "?sslmode=disable",
			[]string{"Wr0ng/pw?x", "Wr0ng%2Fpw%3Fx", "Wr0ng"}, false},
	}
	for _, tc := range cases {
		for _, cmd := range []string{"backup", "doctor", "run"} {
			t.Run(tc.name+"/"+cmd, func(t *testing.T) {
				env := map[string]string{"DATABASE_URL": tc.url, "BRANCH_ID": "branch-leak", "BACKUP_DIR": t.TempDir(),
					"AGENT_LISTEN": "127.0.0.1:0", "LOG_LEVEL": "debug"}
				maps.Copy(env, srv.Env())
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if cmd == "run" {
					// Stop after the first round of checks (and its log lines).
					runHooks.onChecks = func([]doctor.Result) { cancel() }
					defer func() { runHooks.onChecks = nil }()
				}
				var out, errb bytes.Buffer
				code := Main(ctx, []string{cmd}, &out, &errb, config.MapLookup(env))
				all := out.String() + errb.String()
				switch {
				case tc.malformed && (code != 2 || !strings.Contains(errb.String(), "DATABASE_URL") || !strings.Contains(errb.String(), "percent-encode")):
					t.Errorf("exit %d, want 2 naming DATABASE_URL and percent-encoding: %s", code, all)
				case !tc.malformed && cmd != "run" && code != 1:
					t.Errorf("exit %d, want 1: %s", code, all)
				case !tc.malformed && !strings.Contains(all, "DATABASE_URL") && cmd != "backup":
					t.Errorf("nothing names DATABASE_URL: %s", all)
				}
				for _, p := range tc.pieces {
					if strings.Contains(all, p) {
						t.Errorf("output holds %q:\n%s", p, all)
					}
				}
			})
		}
	}
}
