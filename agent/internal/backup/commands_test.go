package backup_test

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/cli"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestCommands runs backup, verify, restore and cleanup through the
// agent's command line, as an operator would, with passwords in the
// environment only.
func TestCommands(t *testing.T) {
	pg, db, _ := backuptest.NewBranchDB(t, 150)
	const dbPassword = "Branch-db-pw-1"
	url := pg.CreatePasswordUser(t, db, "branch_pw", dbPassword)
	srv := testenv.StartS3(t)
	env := backuptest.Env(url, t.TempDir(), srv)
	target := pg.CreateDatabase(t)
	const targetPassword = "Target-pw-2"
	targetURL := pg.CreatePasswordUser(t, target, "target_pw", targetPassword)

	run := func(t *testing.T, extra map[string]string, args ...string) (int, string, string) {
		t.Helper()
		e := maps.Clone(env)
		maps.Copy(e, extra)
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), args, &stdout, &stderr, config.MapLookup(e))
		for _, secret := range []string{dbPassword, targetPassword, testenv.S3SecretKey} {
			if strings.Contains(stdout.String()+stderr.String(), secret) {
				t.Errorf("agent %s printed a secret", args[0])
			}
		}
		return code, stdout.String(), stderr.String()
	}
	withTarget := map[string]string{"RESTORE_TARGET_URL": targetURL}
	cases := []struct {
		name     string
		extra    map[string]string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"help lists the commands", nil, []string{"help"}, 0, "verify", ""},
		{"backup", nil, []string{"backup"}, 0, "uploaded to branch-test/backups/branch-test_", ""},
		{"verify", nil, []string{"verify"}, 0, "record: branch-test/drills/", ""},
		{"verify without a record", nil, []string{"verify", "--no-record"}, 0, "verify ok", ""},
		{"restore needs a target", nil, []string{"restore"}, 2, "", "--target-url"},
		{"key and latest exclude each other", withTarget, []string{"restore", "--key", "k", "--latest"}, 2, "", "exclude"},
		{"restore of a missing key", withTarget, []string{"restore", "--key", "branch-test_20200101_000000.dump"}, 1, "", "not in the bucket"},
		{"restore the latest", withTarget, []string{"restore", "--latest"}, 0, "restored branch-test_", ""},
		{"restore again is refused", withTarget, []string{"restore"}, 1, "", "--yes"},
		{"restore again with --yes", withTarget, []string{"restore", "--yes"}, 0, "restored", ""},
		{"cleanup", nil, []string{"cleanup"}, 0, "0 deleted, 1 kept", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.extra, tc.args...)
			t.Logf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("agent %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.wantCode, out, errOut)
			}
		})
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, pg.URL(target)), backuptest.Snapshot(t, pg.URL(db)))
}
