package cli

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

type result struct {
	code           int
	stdout, stderr string
}

// agent runs the command line in-process with env as its environment.
func agent(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(ctx, args, &out, &errb, config.MapLookup(env))
	return result{code, out.String(), errb.String()}
}

func with(env map[string]string, kv ...string) map[string]string {
	out := maps.Clone(env)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func bucketKeys(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for o, err := range store.All(context.Background(), st, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func TestMetricsCommands(t *testing.T) {
	ctx := context.Background()
	_, dbURL := testenv.NewDatabase(t)
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	base := map[string]string{"DATABASE_URL": dbURL, "BRANCH_ID": "branch-andheri", "BRANCH_NAME": "Andheri", "BACKUP_DIR": t.TempDir()}
	s3env := maps.Clone(base)
	maps.Copy(s3env, srv.Env())
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	today := time.Now().In(kolkata)
	yesterday := today.AddDate(0, 0, -1).Format(time.DateOnly)
	tomorrow := today.AddDate(0, 0, 1).Format(time.DateOnly)
	badQuery := filepath.Join(t.TempDir(), "metrics.sql")
	if err := os.WriteFile(badQuery, []byte("SELECT 1 AS total_bills"), 0o600); err != nil {
		t.Fatal(err)
	}
	localDir := t.TempDir()

	steps := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     string // in stdout (or stderr when the command fails)
		check    func(t *testing.T, r result)
	}{
		{"demo data", base, []string{"demo-data", "--days", "20", "--seed", "5"}, 0, "to " + yesterday + ": ", nil},
		{"demo data again over the same dates", base, []string{"demo-data", "--days", "3", "--seed", "5"}, 1, "already holds bills", nil},
		{"summarize yesterday", base, []string{"summarize", "--date", yesterday}, 0, `"summary_date": "` + yesterday + `"`, func(t *testing.T, r result) {
			d, err := metrics.Unmarshal([]byte(r.stdout))
			if err != nil || d.Validate() != nil || !d.IsFinal || d.TotalBills == 0 || d.BranchName != "Andheri" {
				t.Errorf("document %+v (%v)", d, err)
			}
		}},
		{"summarize a date that does not exist", base, []string{"summarize", "--date", "2026-02-30"}, 2, "not a date", nil},
		{"summarize tomorrow", base, []string{"summarize", "--date", tomorrow}, 1, "in the future", nil},
		{"push with a broken query file", with(s3env, "METRICS_QUERY_FILE", badQuery), []string{"push-metrics", "--date", yesterday, "--force"}, 1, badQuery + `: column "refund_count" is missing`, func(t *testing.T, r result) {
			if keys := bucketKeys(t, st, "branch-andheri/"); len(keys) != 0 {
				t.Errorf("pushed %v", keys)
			}
		}},
		{"push yesterday", s3env, []string{"push-metrics", "--date", yesterday}, 0, "branch-andheri/metrics/" + yesterday + ".json", nil},
		{"catch up", s3env, []string{"catchup"}, 0, "summaries: 19 computed, 0 failed; metrics: 13 pushed, 0 failed", func(t *testing.T, r result) {
			// (A month closed by today may get its bundle, under monthly/.)
			if keys := dailyKeys(bucketKeys(t, st, "branch-andheri/metrics/")); len(keys) != 14 || keys[13] != "branch-andheri/metrics/"+yesterday+".json" {
				t.Errorf("bucket holds %v, want the 14 days up to yesterday", keys)
			}
		}},
		{"catch up again: nothing to do", s3env, []string{"catchup"}, 0, "summaries: 0 computed, 0 failed; metrics: 0 pushed, 0 failed", nil},
		{"push locally without S3 settings", with(base, "BACKUP_DIR", localDir), []string{"push-metrics", "--date", yesterday}, 0, filepath.Join(localDir, "metrics", yesterday+".json"), func(t *testing.T, r result) {
			b, err := os.ReadFile(filepath.Join(localDir, "metrics", yesterday+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if d, err := metrics.Unmarshal(b); err != nil || d.SummaryDate != yesterday {
				t.Errorf("local document %+v (%v)", d, err)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := agent(t, ctx, s.env, s.args...)
			if r.code != s.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, s.wantCode, r.stdout, r.stderr)
			}
			where := r.stdout
			if s.wantCode != 0 {
				where = r.stderr
			}
			if !strings.Contains(where, s.want) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", s.want, r.stdout, r.stderr)
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
	}
}

func TestBadSettingsRefuseToStart(t *testing.T) {
	_, dbURL := testenv.NewDatabase(t)
	base := map[string]string{"DATABASE_URL": dbURL, "BACKUP_DIR": t.TempDir(), "AGENT_LISTEN": "127.0.0.1:0"}
	broken := filepath.Join(t.TempDir(), "metrics.sql")
	if err := os.WriteFile(broken, []byte("SELECT 1 AS total_bills, 2 AS refund_count"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		code int
		want []string
	}{
		{"time zone", with(base, "BRANCH_TIMEZONE", "Mars/Olympus_Mons"), 2, []string{"BRANCH_TIMEZONE"}},
		{"cron expression", with(base, "SUMMARY_SCHEDULE", "45 25 * * *"), 2, []string{"SUMMARY_SCHEDULE"}},
		{"branch id", with(base, "BRANCH_ID", "Branch_Andheri"), 2, []string{"BRANCH_ID"}},
		{"retry backoff", with(base, "SUMMARY_RETRY_BACKOFF", "soon"), 2, []string{"SUMMARY_RETRY_BACKOFF"}},
		{"missing query file", with(base, "METRICS_QUERY_FILE", "/nonexistent/metrics.sql"), 2, []string{"METRICS_QUERY_FILE"}},
		{"query file without a column", with(base, "METRICS_QUERY_FILE", broken), 1, []string{"METRICS_QUERY_FILE", broken, `"gross_revenue" is missing`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := agent(t, context.Background(), c.env, "run")
			if r.code != c.code || !strings.Contains(r.stderr, "agent run: ") {
				t.Fatalf("exit %d, stderr %q: want exit %d", r.code, r.stderr, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
		})
	}
}

// TestSimulatedClock: BRANCHWATCH_FAKE_NOW moves business dates and
// is_final with it.
// dailyKeys drops monthly bundle keys.
func dailyKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !strings.Contains(k, "/metrics/monthly/") {
			out = append(out, k)
		}
	}
	return out
}

// TestCatchupWritesBundles: on 5 March (simulated clock) `agent catchup`
// pushes the missing days and writes February's bundle (January holds no
// document: the data starts on 14 February), not March's; run again, it
// writes nothing.
func TestCatchupWritesBundles(t *testing.T) {
	ctx := context.Background()
	_, dbURL := testenv.NewDatabase(t)
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	env := map[string]string{"DATABASE_URL": dbURL, "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir(),
		"METRICS_CATCHUP_DAYS": "30", FakeNowVariable: "2026-03-05T12:00:00+05:30"}
	maps.Copy(env, srv.Env())
	if r := agent(t, ctx, env, "demo-data", "--days", "19", "--end", "2026-03-04"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := agent(t, ctx, env, "catchup")
	if r.code != 0 || !strings.Contains(r.stdout, "metrics: 19 pushed, 0 failed") || !strings.Contains(r.stdout, "monthly bundles: 1 written, 0 failed") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if keys := bucketKeys(t, st, "branch-andheri/metrics/monthly/"); len(keys) != 1 || keys[0] != "branch-andheri/metrics/monthly/2026-02.json" {
		t.Errorf("bundles %v, want February's", keys)
	}
	if r := agent(t, ctx, env, "catchup"); r.code != 0 || !strings.Contains(r.stdout, "monthly bundles: 0 written, 0 failed") {
		t.Errorf("second catch-up: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestSimulatedClock(t *testing.T) {
	_, dbURL := testenv.NewDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "BACKUP_DIR": t.TempDir()}
	if r := agent(t, context.Background(), env, "demo-data", "--days", "2", "--end", "2026-02-16"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cases := []struct {
		now       string
		args      []string
		wantDate  string
		wantFinal bool
	}{
		{"2026-02-16T12:00:00+05:30", []string{"summarize"}, "2026-02-16", false},
		{"2026-02-16T21:45:00+05:30", []string{"summarize", "--date", "2026-02-16"}, "2026-02-16", true},
		{"2026-02-15T23:59:00Z", []string{"summarize"}, "2026-02-16", false}, // 05:29 in Kolkata
	}
	for _, c := range cases {
		t.Run(c.now, func(t *testing.T) {
			r := agent(t, context.Background(), with(env, FakeNowVariable, c.now), append(c.args, "--force")...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			d, err := metrics.Unmarshal([]byte(r.stdout))
			if err != nil || d.SummaryDate != c.wantDate || d.IsFinal != c.wantFinal {
				t.Errorf("%s is_final %v (%v), want %s %v", d.SummaryDate, d.IsFinal, err, c.wantDate, c.wantFinal)
			}
		})
	}
}
