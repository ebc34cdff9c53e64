package security_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/ledger"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// restrictedBranch is the branch whose key the agent holds.
const restrictedBranch = "branch-x"

// TestAgentStaysInsideItsPrefix runs every job of the agent with a key
// restricted to "branch-x/" (B2 semantics: anything outside is 403
// AccessDenied, listings included). Every job must still succeed, no
// request may be refused, and the neighbours' objects, including those of
// "branch-xy" whose keys share the first characters, stay untouched.
func TestAgentStaysInsideItsPrefix(t *testing.T) {
	pg, _, dbURL := backuptest.NewBranchDB(t, 300)
	rule := &prefixRule{bucket: testenv.S3Bucket, prefix: restrictedBranch + "/"}
	srv := testenv.StartS3(t, testenv.WithMiddleware(rule.middleware))
	admin := adminStore(t, srv)
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}

	// Neighbours' objects, and old backups of our own that cleanup removes.
	neighbours := map[string][]byte{}
	for _, b := range []string{"branch-y", "branch-xy"} {
		key, _ := layout.BackupKey(b, time.Date(2026, 1, 2, 22, 0, 0, 0, ist), false)
		neighbours[key] = []byte("PGDMP neighbour dump of " + b)
		mkey, _ := layout.MetricsKey(b, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
		neighbours[mkey] = []byte(`{"schema_version":1}`)
	}
	for k, v := range neighbours {
		put(t, admin, k, v, confirmedMeta(v))
	}
	// Old backups of our own, uploaded and confirmed by this agent long
	// ago (so in its upload record), that cleanup removes.
	dir := t.TempDir()
	for d := range 4 {
		key, _ := layout.BackupKey(restrictedBranch, time.Date(2025, 6, 1+d, 22, 0, 0, 0, ist), false)
		body := []byte("PGDMP an old dump " + strconv.Itoa(d))
		put(t, admin, key, body, confirmedMeta(body))
		sum := sha256.Sum256(body)
		if err := ledger.Record(dir, ledger.Entry{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Uploaded: time.Date(2025, 6, 1+d, 22, 5, 0, 0, ist)}); err != nil {
			t.Fatal(err)
		}
	}

	// A good local dump that never reached the bucket (a local-only backup
	// yesterday): the backup's catch-up lists the prefix and uploads it.
	local := backuptest.Env(dbURL, dir, nil)
	local[options.EnvBranchID] = restrictedBranch
	if res := runAgent(t, local, map[string]string{"BRANCHWATCH_FAKE_NOW": time.Now().AddDate(0, 0, -1).Format(time.RFC3339)}, "backup"); res.code != 0 {
		t.Fatalf("local backup of yesterday: %s", res.stderr)
	}
	dumps, err := backup.ListLocal(dir, restrictedBranch, ist)
	if err != nil || len(dumps) != 1 {
		t.Fatalf("local dumps: %v %v", dumps, err)
	}
	missed := dumps[0].Name

	env := backuptest.Env(dbURL, dir, srv)
	env[options.EnvBranchID] = restrictedBranch
	env[options.EnvMetricsCatchupDays] = "3"
	target := pg.URL(pg.CreateDatabase(t))
	yesterday := time.Now().In(ist).AddDate(0, 0, -1).Format(layout.DateFormat)

	jobs := []struct {
		name  string
		extra map[string]string
		args  []string
		out   *regexp.Regexp
	}{
		{"backup", nil, []string{"backup"}, regexp.MustCompile(`uploaded to branch-x/backups/branch-x_`)},
		{"cleanup deletes our old backups only", nil, []string{"cleanup"}, regexp.MustCompile(`cleanup: [1-9]\d* deleted`)},
		{"restore the latest", map[string]string{"RESTORE_TARGET_URL": target}, []string{"restore", "--latest"}, regexp.MustCompile(`restored branch-x_`)},
		{"verify", nil, []string{"verify"}, regexp.MustCompile(`verify ok`)},
		{"push-metrics", nil, []string{"push-metrics", "--date", yesterday}, nil},
		{"catchup", nil, []string{"catchup"}, nil},
	}
	for _, j := range jobs {
		t.Run(j.name, func(t *testing.T) {
			before := len(rule.Denied())
			res := runAgent(t, env, j.extra, j.args...)
			if res.code != 0 {
				t.Fatalf("agent %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(j.args, " "), res.code, res.stdout, res.stderr)
			}
			if j.out != nil && !j.out.MatchString(res.stdout) {
				t.Errorf("agent %s printed %q, want %s", j.args[0], res.stdout, j.out)
			}
			if d := rule.Denied()[before:]; len(d) > 0 {
				t.Errorf("agent %s reached outside %s/:\n  %s", j.args[0], restrictedBranch, strings.Join(d, "\n  "))
			}
		})
	}

	if rule.Seen() == 0 {
		t.Fatal("the agent made no request with its restricted key")
	}
	for k, v := range neighbours {
		rc, _, err := admin.Get(t.Context(), k)
		if err != nil {
			t.Errorf("neighbour object %s: %v", k, err)
			continue
		}
		got := make([]byte, len(v)+1)
		n, _ := rc.Read(got)
		rc.Close()
		if string(got[:n]) != string(v) {
			t.Errorf("neighbour object %s changed", k)
		}
	}
	ours := keysUnder(t, admin, restrictedBranch+"/backups/")
	if !slices.Contains(ours, restrictedBranch+"/backups/"+missed) {
		t.Errorf("the missed local dump %s was not caught up: %v", missed, ours)
	}
	// Dumps only: a dump's manifest (<dump>.manifest.json) goes with it.
	dumpKeys := slices.DeleteFunc(slices.Clone(ours), func(k string) bool { return !strings.HasSuffix(k, ".dump") })
	if slices.ContainsFunc(dumpKeys, func(k string) bool { return strings.Contains(k, "_202506") }) && len(dumpKeys) > 4 {
		t.Errorf("cleanup left old backups beyond the newest kept: %v", ours)
	}

	// The rule bites: the same key cannot list the bucket or a neighbour.
	restricted := srv.Store(t)
	for _, prefix := range []string{"", "branch-y/", "branch-x"} {
		before := len(rule.Denied())
		if _, err := keysUnderErr(restricted, prefix); err == nil || len(rule.Denied()) == before {
			t.Errorf("listing %q with the restricted key was not refused (err %v)", prefix, err)
		}
	}
}

// confirmedMeta is the metadata of a confirmed backup of body.
func confirmedMeta(body []byte) map[string]string {
	sum := sha256.Sum256(body)
	return map[string]string{backup.MetaSHA256: hex.EncodeToString(sum[:]), backup.MetaSize: strconv.Itoa(len(body))}
}

// keysUnderErr lists prefix, returning the first error.
func keysUnderErr(st store.Store, prefix string) ([]string, error) {
	var out []string
	for o, err := range store.All(context.Background(), st, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return out, err
		}
		out = append(out, o.Key)
	}
	return out, nil
}
