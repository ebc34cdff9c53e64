package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/doctor"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// health is GET /healthz: status code and problems.
func health(tb testing.TB, addr string) (int, []string) {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Status   string   `json:"status"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		tb.Fatalf("/healthz %s: %v", b, err)
	}
	return resp.StatusCode, body.Problems
}

// pingRecorder is a healthchecks.io stand-in that records the paths pinged.
type pingRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newPingRecorder(t *testing.T) *pingRecorder {
	t.Helper()
	p := &pingRecorder{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.URL.Path)
		p.mu.Unlock()
	}))
	t.Cleanup(p.Close)
	return p
}

// paths are the paths pinged so far, space-separated.
func (p *pingRecorder) paths() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.seen, " ")
}

var roleSeq atomic.Int64

// uniqueRole is name made unique in the test binary's shared cluster
// (roles outlive databases), so that -count=N works.
func uniqueRole(name string) string {
	return fmt.Sprintf("%s_%d_%d", name, os.Getpid(), roleSeq.Add(1))
}

// passwordFixture is a branch database with demo data and a role whose
// password the agent does not know yet.
type passwordFixture struct {
	pg       *testenv.Postgres
	role     string
	agentURL string // with the password the role will get
}

func newPasswordFixture(tb testing.TB, role string) passwordFixture {
	tb.Helper()
	pg := testenv.PG(tb)
	role = uniqueRole(role)
	// Dropped after the database (cleanups run last first), which holds
	// the objects the agent created as this role.
	tb.Cleanup(func() { _ = pg.Exec(context.Background(), "postgres", "DROP ROLE IF EXISTS "+role) })
	db := pg.CreateDatabase(tb)
	url := pg.CreatePasswordUser(tb, db, role, "old-pw")
	var out, errb strings.Builder
	if code := Main(context.Background(), []string{"demo-data", "--days", "5", "--seed", "3", "--end", "2026-02-15"}, &out, &errb,
		config.MapLookup(map[string]string{"DATABASE_URL": pg.URL(db), "BACKUP_DIR": tb.TempDir()})); code != 0 {
		tb.Fatalf("demo-data: %s", errb.String())
	}
	return passwordFixture{pg: pg, role: role, agentURL: strings.Replace(url, ":old-pw@", ":new-pw@", 1)}
}

func (f passwordFixture) setPassword(tb testing.TB, pw string) {
	tb.Helper()
	if err := f.pg.Exec(context.Background(), "postgres", "ALTER ROLE "+f.role+" PASSWORD '"+pw+"'"); err != nil {
		tb.Fatal(err)
	}
}

// untilHealthy advances the fake clock in steps until a round of checks
// passes and returns the simulated time it took. Between steps it waits
// for the agent to settle: either its recheck timer is pending again
// (nJobTimers+1 waiters) or a round just ended.
func untilHealthy(tb testing.TB, clock *clockwork.FakeClock, rounds <-chan []doctor.Result, nJobTimers int) time.Duration {
	tb.Helper()
	const step = 10 * time.Second
	var elapsed time.Duration
	for elapsed <= time.Hour {
		clock.Advance(step)
		elapsed += step
		bctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		settled := make(chan error, 1)
		go func() { settled <- clock.BlockUntilContext(bctx, nJobTimers+1) }()
		select {
		case f := <-rounds:
			cancel()
			if len(f) == 0 {
				return elapsed
			}
		case err := <-settled:
			cancel()
			if err != nil {
				tb.Fatalf("the agent did not settle: %v", err)
			}
			// The timers can count as settled while a round of checks,
			// started by this step, still talks to PostgreSQL and S3 in
			// real time: let it finish before the clock moves on.
			select {
			case f := <-rounds:
				if len(f) == 0 {
					return elapsed
				}
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	tb.Fatal("no passing round within an hour")
	return 0
}

// TestRunRecoversFromAWrongPassword: `agent run` starts with a password
// the database refuses. It keeps running; /healthz answers 503 naming
// DATABASE_URL, the log says so at ERROR, the backup's healthcheck gets
// /fail, the 22:00 backup is held back. The password is fixed on the
// server (ALTER ROLE) while it runs: within 5 minutes /healthz is 200 and
// the missed catch-up and backup run by themselves.
func TestRunRecoversFromAWrongPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fx := newPasswordFixture(t, "recover_bw")
	srv := testenv.StartS3(t)
	hc := newPingRecorder(t)
	env := map[string]string{"DATABASE_URL": fx.agentURL, "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir(),
		"AGENT_LISTEN": "127.0.0.1:0", "HEALTHCHECK_BACKUP_URL": hc.URL + "/backup"}
	maps.Copy(env, srv.Env())
	rounds := make(chan []doctor.Result, 50)
	runHooks.onChecks = func(f []doctor.Result) { rounds <- f }

	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 52, 0, 0, kolkata))
	a := startAgent(t, env, clock)
	want := `DATABASE_URL: password authentication failed for user "` + fx.role + `"`
	if f := <-rounds; len(f) != 1 || f[0].Problem() != want {
		t.Fatalf("first round: %+v", f)
	}
	if r := a.next(t); !strings.HasPrefix(r, JobCatchup+": not run while a check fails") || !strings.Contains(r, want) {
		t.Fatalf("start-up catch-up: %s", r)
	}
	if code, problems := health(t, a.d.Addr()); code != http.StatusServiceUnavailable || len(problems) != 1 || problems[0] != want {
		t.Fatalf("/healthz %d %q, want 503 %q", code, problems, want)
	}

	// 21:57 a recheck fails again; 22:00 the backup is held back.
	// The four jobs' timers (summary, backup, cleanup, verify) and the checks'.
	if err := clock.BlockUntilContext(ctx, 5); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	if f := <-rounds; len(f) != 1 {
		t.Fatalf("recheck at 21:57: %+v", f)
	}
	// The four jobs' timers (summary, backup, cleanup, verify) and the checks'.
	if err := clock.BlockUntilContext(ctx, 5); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Minute)
	if r := a.next(t); !strings.HasPrefix(r, JobBackup+": not run while a check fails") {
		t.Fatalf("22:00 backup: %s", r)
	}

	fx.setPassword(t, "new-pw")
	took := untilHealthy(t, clock, rounds, 4)
	if took > doctor.RecheckInterval {
		t.Errorf("healthy %s after the fix, want at most %s", took, doctor.RecheckInterval)
	}
	if code, problems := health(t, a.d.Addr()); code != http.StatusOK {
		t.Errorf("/healthz %d %q after the fix", code, problems)
	}
	done := map[string]bool{}
	for range 2 {
		done[a.next(t)] = true
	}
	if !done[JobCatchup] || !done[JobBackup] {
		t.Fatalf("missed jobs after the fix: %v", done)
	}
	log := a.stop(t)
	if keys := bucketKeys(t, srv.Store(t), "branch-andheri/backups/"); len(keys) == 0 {
		t.Error("the missed backup uploaded nothing")
	}
	if keys := bucketKeys(t, srv.Store(t), "branch-andheri/metrics/"); len(keys) == 0 {
		t.Error("the missed catch-up pushed nothing")
	}
	if !strings.Contains(log, `"level":"ERROR","msg":"DATABASE_URL: password authentication failed for user \"`+fx.role+`\""`) {
		t.Errorf("no ERROR line naming DATABASE_URL:\n%s", log)
	}
	if strings.Contains(log, "new-pw") {
		t.Error("the password reached the log")
	}
	// The status document holds the last state (written at stop).
	st := readAgentStatus(t, srv.Store(t), "branch-andheri")
	if b := st.Jobs[JobBackup]; b.LastSuccess == "" || b.LastError != "" || b.NextRun != "2026-02-17T22:00:00+05:30" {
		t.Errorf("backup job in the status: %+v", b)
	}
	if c := st.Jobs[JobCatchup]; c.LastSuccess == "" {
		t.Errorf("catch-up in the status: %+v", c)
	}
	if st.Checks != "ok" || len(st.Doctor) == 0 || len(st.DoctorFailing()) != 0 || st.ServerVersion == "" || st.PGDumpVersion == "" {
		t.Errorf("status checks %q, doctor %+v, versions %q %q", st.Checks, st.Doctor, st.ServerVersion, st.PGDumpVersion)
	}
	if st.LastDumpSize == nil || *st.LastDumpSize <= 0 || st.BackupDirFreeBytes == nil || *st.BackupDirFreeBytes <= 0 {
		t.Errorf("status sizes %v %v", st.LastDumpSize, st.BackupDirFreeBytes)
	}
	// The check's /fail at start, the held-back 22:00 run, the rerun.
	if got := hc.paths(); got != "/backup/fail /backup/start /backup/fail /backup/start /backup" {
		t.Errorf("pings %s", got)
	}
}

// TestRunRecoversFromAMissingBucket: the bucket does not exist when
// `agent run` starts. /healthz names BACKUP_S3_BUCKET; the 22:00 backup
// still dumps locally but cannot upload, and counts as missed. Once the
// bucket is created, /healthz is 200 within 5 minutes and the missed
// backup runs: both dumps reach the bucket.
func TestRunRecoversFromAMissingBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, dbURL := testenv.NewDatabase(t)
	srv := testenv.StartS3(t)
	base := map[string]string{"DATABASE_URL": dbURL, "BACKUP_DIR": t.TempDir()}
	if r := agent(t, ctx, base, "demo-data", "--days", "5", "--seed", "4", "--end", "2026-02-15"); r.code != 0 {
		t.Fatalf("demo-data: %s", r.stderr)
	}
	env := with(base, "BRANCH_ID", "branch-bandra", "AGENT_LISTEN", "127.0.0.1:0")
	maps.Copy(env, srv.Env())
	env["BACKUP_S3_BUCKET"] = "bandra-backups"
	rounds := make(chan []doctor.Result, 50)
	runHooks.onChecks = func(f []doctor.Result) { rounds <- f }
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 16, 21, 58, 0, 0, kolkata))
	a := startAgent(t, env, clock)
	want := "BACKUP_S3_BUCKET: bucket bandra-backups does not exist (NoSuchBucket)"
	if f := <-rounds; len(f) != 1 || f[0].Problem() != want {
		t.Fatalf("first round: %+v", f)
	}
	if code, problems := health(t, a.d.Addr()); code != http.StatusServiceUnavailable || len(problems) != 1 || problems[0] != want {
		t.Fatalf("/healthz %d %q, want 503 %q", code, problems, want)
	}
	if r := a.next(t); !strings.HasPrefix(r, JobCatchup+": ") {
		t.Fatalf("start-up catch-up: %s", r)
	}
	<-rounds // the catch-up's failure had the checks run again
	// The four jobs' timers (summary, backup, cleanup, verify) and the checks'.
	if err := clock.BlockUntilContext(ctx, 5); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // 22:00
	if r := a.next(t); !strings.HasPrefix(r, JobBackup+": ") || !strings.Contains(r, "NoSuchBucket") {
		t.Fatalf("22:00 backup: %s", r)
	}
	<-rounds

	if err := srv.Backend.CreateBucket("bandra-backups"); err != nil {
		t.Fatal(err)
	}
	if took := untilHealthy(t, clock, rounds, 4); took > doctor.RecheckInterval {
		t.Errorf("healthy %s after the fix, want at most %s", took, doctor.RecheckInterval)
	}
	done := map[string]bool{}
	for range 2 {
		done[a.next(t)] = true
	}
	a.stop(t)
	if !done[JobCatchup] || !done[JobBackup] {
		t.Fatalf("missed jobs after the fix: %v", done)
	}
	st2, err := store.NewS3(func() store.S3Options { o := srv.Options(); o.Bucket = "bandra-backups"; return o }())
	if err != nil {
		t.Fatal(err)
	}
	// Both dumps have their manifests beside them: the 22:00 dump's,
	// kept beside it locally, went up with it in the rerun's catch-up.
	keys := bucketKeys(t, st2, "branch-bandra/backups/")
	if len(keys) != 4 || keys[1] != keys[0]+".manifest.json" || keys[3] != keys[2]+".manifest.json" {
		t.Errorf("backups in the bucket after the fix: %v, want the 22:00 dump and the rerun's, each with its manifest", keys)
	}
	if keys := bucketKeys(t, st2, "branch-bandra/metrics/"); len(keys) == 0 {
		t.Error("the missed catch-up pushed nothing")
	}
}

// readAgentStatus reads and decodes a branch's agent status document.
func readAgentStatus(tb testing.TB, st store.Store, branch string) agentstatus.Status {
	tb.Helper()
	key, _ := layout.AgentStatusKey(branch)
	rc, _, err := st.Get(context.Background(), key)
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	s, err := agentstatus.Decode(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
