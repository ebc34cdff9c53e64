package simulation_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/simtime"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// daemonPlan is the shape of the nights on real daemons. The daemons run
// without a stop from 21:00 on the first night to the morning after the
// last one, on an accelerated clock (Rate, a shared/simtime spec: the
// busy hours of the night run slower, so that a dump that takes a real
// second on a loaded machine stays minutes, not hours, of simulated
// time); the harness only injects faults on the chosen nights and looks
// at the bucket and at the aggregator.
type daemonPlan struct {
	Branches, Nights int
	Rate             string // BRANCHWATCH_CLOCK_RATE
	HistoryDays      int
	BillsPerDay      int
	BallastMiB       int
	// Outages: on these nights every agent's S3 is out (connections hung
	// up on) from 22:00-Before to 22:00+After, simulated.
	Outages map[int]outage
	// Bursts: on these nights the agents' next N requests are answered
	// 503 SlowDown, from 21:59 (or the end of the night's outage).
	Bursts         map[int]int
	KillNight      int // KillBranch's agent is killed (SIGKILL) mid-upload and started again
	KillBranch     int // carries BallastMiB of extra rows on that day, so its dump goes up in parts
	PasswordNight  int // PasswordBranch's database password is changed at 21:00 and set back at PasswordFixed (04:30)
	PasswordBranch int
	RestartNight   int // the PostgreSQL server restarts once a pg_dump runs
}

// outage is an S3 outage around 22:00.
type outage struct{ Before, After time.Duration }

func (o outage) String() string {
	return fmt.Sprintf("%s (22:00 -%s +%s)", o.Before+o.After, o.Before, o.After)
}

var (
	shortDaemonPlan = daemonPlan{Branches: 3, Nights: 2, Rate: "7200,21:00-01:30=900,04:15-07:15=900",
		HistoryDays: 2, BillsPerDay: 10, BallastMiB: 10,
		Outages: map[int]outage{0: {10 * time.Minute, 25 * time.Minute}, 1: {45 * time.Minute, 15 * time.Minute}},
		Bursts:  map[int]int{1: 12}, KillNight: 1, KillBranch: 2, PasswordNight: 0, PasswordBranch: 0, RestartNight: 0}
	fullDaemonPlan = daemonPlan{Branches: 8, Nights: 30, Rate: "7200,21:00-01:30=600,04:15-07:15=600",
		HistoryDays: 7, BillsPerDay: 30, BallastMiB: 10,
		Outages: map[int]outage{
			1: {5 * time.Minute, 5 * time.Minute}, 4: {15 * time.Minute, 15 * time.Minute}, 9: {30 * time.Minute, 30 * time.Minute},
			13: {20 * time.Minute, 5 * time.Minute}, 18: {40 * time.Minute, 5 * time.Minute}, 24: {time.Minute, 14 * time.Minute},
			27: {10 * time.Minute, 40 * time.Minute},
		},
		Bursts:    map[int]int{2: 12, 7: 40, 9: 25, 15: 80, 22: 60, 27: 20},
		KillNight: 12, KillBranch: 5, PasswordNight: 20, PasswordBranch: 1, RestartNight: 16}
)

// TestNightsOnRealDaemons is issue 12's simulated nights: each branch runs
// `agent run` (the real binary) on an accelerated clock, its summary,
// backup and retries on its own schedule; the harness makes S3 fail
// across 22:00 on several nights (outages of different lengths), sends
// bursts of 503s, kills one agent with SIGKILL in the middle of its
// upload and starts it again (as systemd would), restarts PostgreSQL
// while a pg_dump runs, changes one branch's database password for a
// night (ALTER ROLE) and sets it back in the morning, and retries
// nothing. The aggregator (in-process) syncs at 23:30, 00:30 (not on the
// kill night) and 07:00: at 00:30 every check of every branch is up
// except the wrong password's metrics, backup and agent checks, down; at
// 07:00 all are up; exactly one down and one recovery alert for each of
// those three (and for an agent check a 23:30 sync found down just after
// the PostgreSQL restart), nothing else.
// Every morning each branch must have the night's backup in the bucket
// (size and SHA-256 as its metadata says) and the day's metrics document,
// whose figures are recomputed from the database.
func TestNightsOnRealDaemons(t *testing.T) {
	p := shortDaemonPlan
	if *fullMonth || os.Getenv("BRANCHWATCH_MONTH") == "full" {
		p = fullDaemonPlan
	}
	if p.PasswordNight == p.KillNight {
		t.Fatal("the plan puts the wrong password on the kill night, which has no 00:30 sync")
	}
	began := time.Now()
	s := newDaemonSim(t, p)
	for n := range p.Nights {
		s.night(t, n)
		if t.Failed() {
			s.dumpLogs(t)
			t.Fatalf("stopping after night %d (%s)", n, s.date(n).Format(time.DateOnly))
		}
	}
	s.stopAll(t)
	s.checkAlerts(t)
	s.printFigures(t, time.Since(began))
}

// daemonSim is the running simulation.
type daemonSim struct {
	p      daemonPlan
	ist    *time.Location
	pg     *testenv.Postgres
	s3     *testenv.S3Server
	faults *faultyS3
	owner  *store.S3
	bin    string
	tl     *simtime.Timeline // the simulated time since began
	start  time.Time         // simulated time at began
	began  time.Time
	pwRole string // the password branch's role

	branches []*branch
	procs    []*daemonProc
	agg      *aggregator // in-process, on a clock the harness sets at each sync
	downs    []string    // branch/check pairs that must have gone down and recovered

	kills, restarts int
	outages, bursts []string // as they happened, for the figures
	pgRestarts      int
	// restartFrom, restartTo: PostgreSQL's restart (simulated), set
	// before the restart night's syncs.
	restartFrom, restartTo time.Time
	backups, docs          int
	nightsOK, nightsWant   int
}

// daemonProc is one running `agent run`.
type daemonProc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

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

func newDaemonSim(t *testing.T, p daemonPlan) *daemonSim {
	t.Helper()
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	s := &daemonSim{p: p, ist: ist, faults: newFaultyS3(faultRates{}, 2026)}
	s.bin = buildAgent(t)
	s.pg = testenv.PG(t)
	s.s3 = testenv.StartS3(t, testenv.WithMiddleware(s.faults.Middleware))
	o := s.s3.Options()
	o.AccessKey = ownerAccessKey
	if s.owner, err = store.NewS3(o); err != nil {
		t.Fatal(err)
	}
	agents := &agents{bin: s.bin}
	history := s.date(0) // up to the first night's day: the daemons start that evening
	for i := range p.Branches {
		b := newBranch(t, s.pg, i, s.s3.Env())
		b.Env["AGENT_LISTEN"] = "off"
		if i == p.PasswordBranch {
			// This branch's agent logs in with a password (scram), which
			// the harness changes for one night. The role's name is
			// unique to the run (its database's), dropped after it.
			s.pwRole = "sim_pw_" + b.DB
			if err := s.pg.Exec(context.Background(), "postgres", "CREATE ROLE "+s.pwRole+" LOGIN SUPERUSER IN ROLE pwusers PASSWORD '"+simPassword+"'"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx := context.Background()
				_ = s.pg.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{b.DB}.Sanitize()+" WITH (FORCE)")
				_ = s.pg.Exec(ctx, "postgres", "DROP ROLE IF EXISTS "+s.pwRole)
			})
			b.URL = strings.Replace(b.URL, "://postgres@", "://"+s.pwRole+":"+simPassword+"@", 1)
			b.Env["DATABASE_URL"] = b.URL
		}
		s.branches = append(s.branches, b)
		// The sales before the first night (the branch's till, not the agent's work).
		if r := agents.run(context.Background(), b, s.at(0, 7, 0), nil, "demo-data", "--days", itoa(p.HistoryDays),
			"--end", history.Format(time.DateOnly), "--seed", itoa(i+1), "--bills-per-day", itoa(p.BillsPerDay)); r.Exit != 0 {
			t.Fatal(r)
		}
	}
	// Install day, the first night's morning: the operator runs the
	// catch-up (it pushes the days before) and a first backup by hand (once
	// each, as the install guide says); the daemons and the aggregator
	// start in the evening.
	for _, b := range s.branches {
		for _, cmd := range []string{"catchup", "backup"} {
			if r := agents.run(context.Background(), b, s.at(0, 9, 0), nil, cmd); r.Exit != 0 {
				t.Fatal(r)
			}
		}
	}
	if p.PasswordNight == 0 {
		s.setPassword(t, "wrong-"+simPassword) // before the daemons' start-up catch-up pushes the day
	}
	spec, err := simtime.Parse(p.Rate)
	if err != nil {
		t.Fatal(err)
	}
	s.start, s.began = s.at(0, 21, 0), time.Now()
	s.tl = simtime.New(s.start, spec)
	s.procs = make([]*daemonProc, len(s.branches))
	for i := range s.branches {
		s.procs[i] = s.startDaemon(t, i)
	}
	t.Cleanup(func() { s.stopAll(t) })
	var ids []string
	for _, b := range s.branches {
		ids = append(ids, b.ID)
	}
	clock := &simClock{}
	clock.Set(s.start)
	s.agg = startAggregator(t, s.s3.Env(), ids, clock)
	return s
}

// now is the harness's simulated time (the daemons' clocks started a few
// real milliseconds later, so they are a few simulated seconds behind).
func (s *daemonSim) now() time.Time { return s.tl.At(time.Since(s.began)) }

// real is the real time from now until the simulated time at.
func (s *daemonSim) real(at time.Time) time.Duration { return s.tl.Elapsed(at) - time.Since(s.began) }

// sleepUntil waits for the simulated time at.
func (s *daemonSim) sleepUntil(at time.Time) {
	if d := s.real(at); d > 0 {
		time.Sleep(d)
	}
}

func (s *daemonSim) date(n int) time.Time { return firstNight.AddDate(0, 0, n) }

func (s *daemonSim) at(n, hh, mm int) time.Time {
	d := s.date(n)
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, s.ist)
}

// startDaemon starts branch i's `agent run` at the harness's simulated time.
func (s *daemonSim) startDaemon(t *testing.T, i int) *daemonProc {
	t.Helper()
	env := maps.Clone(s.branches[i].Env)
	env["BRANCHWATCH_FAKE_NOW"] = s.now().Format(time.RFC3339Nano)
	env["BRANCHWATCH_CLOCK_RATE"] = s.p.Rate
	// 2 hours are 8 to 12 real seconds in the busy hours: a loaded
	// machine's dump of the ballast can take that long.
	env["JOB_TIMEOUT"] = "6h"
	cmd := exec.Command(s.bin, "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=UTC"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	d := &daemonProc{cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	var out io.Writer = d.log
	var file *os.File
	if dir := os.Getenv("BRANCHWATCH_SIM_LOGDIR"); dir != "" {
		// Each daemon's whole log, appended across restarts (to read
		// after a failure: the test prints only the tails).
		f, err := os.OpenFile(filepath.Join(dir, s.branches[i].ID+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		file, out = f, io.MultiWriter(d.log, f)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		if file != nil {
			file.Close()
		}
		d.done <- err
	}()
	return d
}

// stopAll stops every daemon with SIGTERM (as systemd stops it) and
// checks that each exits cleanly.
func (s *daemonSim) stopAll(t *testing.T) {
	for i, d := range s.procs {
		if d == nil {
			continue
		}
		s.procs[i] = nil
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.done:
			if err != nil {
				t.Errorf("%s: agent run ended with %v\n%s", s.branches[i].ID, err, tail(d.log.String(), 3000))
			}
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			t.Errorf("%s: agent run did not stop within 30 s of SIGTERM", s.branches[i].ID)
		}
	}
}

// dumpLogs logs the tail of each daemon's log (after a failure).
func (s *daemonSim) dumpLogs(t *testing.T) {
	for i, d := range s.procs {
		if d != nil {
			t.Logf("%s log:\n%s", s.branches[i].ID, tail(d.log.String(), 4000))
		}
	}
}

// night is one business day: the day's sales at 08:00 (the first day's
// are in before the daemons start, at 21:00), the night's faults, and the
// next morning's look at the bucket (07:00).
func (s *daemonSim) night(t *testing.T, n int) {
	t.Helper()
	p := s.p
	date := s.date(n).Format(time.DateOnly)
	s.sleepUntil(s.at(n, 8, 0))
	tills := &agents{bin: s.bin}
	for i, b := range s.branches {
		if n == 0 {
			break
		}
		if r := tills.run(context.Background(), b, s.now(), nil, "demo-data", "--days", "1", "--end", date,
			"--seed", itoa(i+1), "--bills-per-day", itoa(p.BillsPerDay)); r.Exit != 0 {
			t.Fatal(r)
		}
	}
	if n == p.KillNight {
		addBallast(t, s.branches[p.KillBranch].URL, p.BallastMiB)
	}
	if n == p.PasswordNight && n > 0 {
		s.sleepUntil(s.at(n, 21, 0))
		s.setPassword(t, "wrong-"+simPassword)
	}
	var restarted chan struct{}
	if n == p.RestartNight {
		restarted = s.restartDuringDump(t, n) // watches from 21:50
	}
	var held <-chan struct{}
	if n == p.KillNight {
		held = s.faults.HoldUpload(s.branches[p.KillBranch].ID + "/backups/")
	}
	burstAt := s.at(n, 21, 59)
	if o, ok := p.Outages[n]; ok {
		s.sleepUntil(s.at(n, 22, 0).Add(-o.Before))
		s.faults.outage.Store(true)
		s.sleepUntil(s.at(n, 22, 0).Add(o.After))
		s.faults.outage.Store(false)
		s.outages = append(s.outages, fmt.Sprintf("night %d: %s", n, o))
		burstAt = s.now()
	}
	if k, ok := p.Bursts[n]; ok {
		s.sleepUntil(burstAt)
		s.faults.burst.Store(int64(k))
		s.bursts = append(s.bursts, fmt.Sprintf("night %d: %d at %s", n, k, burstAt.Format("15:04")))
	}
	if n == p.KillNight {
		s.killDuringUpload(t, n, held)
	}
	if restarted != nil {
		<-restarted
	}
	s.sleepUntil(s.at(n, 23, 30))
	s.sync(t, s.at(n, 23, 30), nil)
	// 00:30: past every grace (metrics 21:45 + 2 h, backup 22:00 + 2 h).
	// None on the kill night: the killed upload is taken up again by the
	// restarted agent's start-up catch-up, which a loaded machine may
	// finish after midnight (the plans keep the password elsewhere).
	if n != p.KillNight {
		down := map[string]bool{}
		if n == p.PasswordNight {
			b := s.branches[p.PasswordBranch].ID
			down[b] = true
			for _, c := range []string{freshness.CheckMetrics, freshness.CheckBackup, freshness.CheckAgent} {
				if !slices.Contains(s.downs, b+"/"+c) { // the agent's may be in since 23:30
					s.downs = append(s.downs, b+"/"+c)
				}
			}
		}
		s.sleepUntil(s.at(n+1, 0, 30))
		s.sync(t, s.at(n+1, 0, 30), down)
	}
	if n == p.PasswordNight {
		// The held-back jobs run once the doctor's checks pass; 04:30
		// leaves 10 real seconds before 07:00 to a loaded machine.
		s.sleepUntil(s.at(n+1, 4, 30))
		s.setPassword(t, simPassword)
	}
	s.sleepUntil(s.at(n+1, 7, 0))
	s.sync(t, s.at(n+1, 7, 0), map[string]bool{})
	s.morning(t, n)
	if n == p.KillNight {
		if err := s.pg.Exec(context.Background(), s.branches[p.KillBranch].DB, "DROP TABLE sim_ballast"); err != nil {
			t.Fatal(err)
		}
	}
}

// restartDuringDump restarts the PostgreSQL server as soon as a pg_dump
// copies a table after 21:50 on night n (polling pg_stat_activity for its
// COPY); the channel closes once the server is back.
func (s *daemonSim) restartDuringDump(t *testing.T, n int) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sleepUntil(s.at(n, 21, 50))
		deadline := time.Now().Add(s.real(s.at(n+1, 0, 50)))
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, s.pg.URL("postgres"))
		if err != nil {
			t.Errorf("watch pg_stat_activity: %v", err)
			return
		}
		defer conn.Close(ctx)
		seen := map[string]bool{}
		for time.Now().Before(deadline) {
			var names []string
			if err := conn.QueryRow(ctx, "SELECT coalesce(array_agg(CASE WHEN query ILIKE 'COPY %' THEN 'pg_dump' ELSE application_name END), '{}') FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&names); err != nil {
				t.Errorf("watch pg_stat_activity: %v", err)
				return
			}
			for _, name := range names {
				seen[name] = true
			}
			if slices.Contains(names, "pg_dump") {
				s.restartFrom = s.now()
				if err := s.pg.Restart(); err != nil {
					t.Errorf("restart PostgreSQL: %v", err)
				}
				s.pgRestarts++
				s.restartTo = s.now()
				t.Logf("PostgreSQL restarted during a pg_dump: down from %s to %s (simulated)", s.restartFrom.Format(time.DateTime), s.restartTo.Format(time.TimeOnly))
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Errorf("no pg_dump seen by 00:50 on the restart night (application names seen: %v)", seen)
	}()
	return done
}

// simPassword is the password branch's (right) database password.
const simPassword = "sim-right-password"

// setPassword sets the password branch's role password (ALTER ROLE). A
// wrong one also ends the role's open sessions, as a password rotation
// that restarts the connections would: else the agent's pool goes on
// with the connections it logged in with before, and only new ones (the
// doctor's, pg_dump's) are refused.
func (s *daemonSim) setPassword(t *testing.T, pw string) {
	t.Helper()
	ctx := context.Background()
	if err := s.pg.Exec(ctx, "postgres", "ALTER ROLE "+s.pwRole+" PASSWORD '"+pw+"'"); err != nil {
		t.Fatal(err)
	}
	if pw == simPassword {
		return
	}
	if err := s.pg.Exec(ctx, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", s.pwRole); err != nil {
		t.Fatal(err)
	}
}

// sync is one aggregator sync at the simulated time at, not retried: the
// aggregator's requests see no fault. With down not nil, every alerting
// check of every branch must be up, except those of the branches in
// down, whose metrics, backup and agent checks must be down.
func (s *daemonSim) sync(t *testing.T, at time.Time, down map[string]bool) {
	t.Helper()
	s.agg.Clock.Set(at)
	s.agg.Syncs++
	if err := s.agg.App.Service.RefreshIncremental(context.Background()); err != nil {
		t.Errorf("%s: the aggregator's sync failed: %v", at.Format(time.DateTime), err)
		return
	}
	if down == nil {
		// 23:30: a backup still going up is late, not down. An agent
		// whose doctor saw PostgreSQL down during its restart may still
		// say so (the agent check has no grace): when the restart ended
		// less than 15 minutes before (a 5-minute recheck, a one-minute
		// write limit, a loaded machine), that outage crossed the check's
		// grace and owes one down and one recovery alert.
		for _, b := range s.agg.App.Service.Branches() {
			k := b.ID + "/" + freshness.CheckAgent
			if b.Agent.State != freshness.Down || slices.Contains(s.downs, k) ||
				s.restartTo.IsZero() || at.After(s.restartTo.Add(15*time.Minute)) || !strings.Contains(b.Agent.Reason, "DATABASE_URL") {
				continue
			}
			t.Logf("%s: %s's agent check is down after the PostgreSQL restart (up to %s): %s", at.Format(time.DateTime), b.ID, s.restartTo.Format(time.TimeOnly), b.Agent.Reason)
			s.downs = append(s.downs, k)
		}
		return
	}
	wantDown := map[string]bool{freshness.CheckMetrics: true, freshness.CheckBackup: true, freshness.CheckAgent: true}
	seen := 0
	for _, b := range s.agg.App.Service.Branches() {
		seen++
		for _, c := range b.AlertChecks() {
			want := freshness.Up
			if down[b.ID] && wantDown[c.Name] {
				want = freshness.Down
			}
			if c.State != want {
				t.Errorf("%s: %s's %s check is %s, want %s: %s", at.Format(time.DateTime), b.ID, c.Name, c.State, want, c.Reason)
			}
		}
		if down[b.ID] && b.Agent.State != freshness.Down {
			t.Errorf("%s: %s's agent check is %s, want down (the status document names the failing database check): %s",
				at.Format(time.DateTime), b.ID, b.Agent.State, b.Agent.Reason)
		}
	}
	if seen != len(s.branches) {
		t.Errorf("%s: the aggregator shows %d branches, want %d", at.Format(time.DateTime), seen, len(s.branches))
	}
}

// checkAlerts waits for the alerts to be delivered: exactly one down and
// one recovery for each check the wrong password kept down past its
// grace (metrics, backup, and the agent check, whose status document
// named the failing database check), in that order; nothing else, for
// every check (the S3 outages, the 503 bursts, the PostgreSQL restart
// and the kill are outlasted within the night).
func (s *daemonSim) checkAlerts(t *testing.T) {
	t.Helper()
	s.agg.waitAlertsDelivered(t)
	var want []string
	for _, k := range s.downs {
		want = append(want, k+" down", k+" recovered")
	}
	got := s.agg.Hook.alerts()
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("alerts delivered: %v\nwant exactly: %v", got, want)
	}
	for _, k := range s.downs {
		if slices.Index(got, k+" recovered") < slices.Index(got, k+" down") {
			t.Errorf("%s: recovery delivered before the outage: %v", k, got)
		}
	}
	if s.agg.Hook.duplicate > 0 {
		t.Errorf("%d alerts delivered twice", s.agg.Hook.duplicate)
	}
}

// killDuringUpload waits for the kill branch's first multipart part of
// the night (held), kills its agent with SIGKILL then, and starts it
// again at once (systemd's Restart=always).
func (s *daemonSim) killDuringUpload(t *testing.T, n int, held <-chan struct{}) {
	t.Helper()
	i := s.p.KillBranch
	defer s.faults.hold.Store(nil)
	d := s.procs[i]
	select {
	case <-held:
	case err := <-d.done:
		t.Fatalf("%s: agent run ended before its upload (%v)\n%s", s.branches[i].ID, err, tail(d.log.String(), 3000))
	case <-time.After(s.real(s.at(n+1, 4, 0))):
		t.Fatalf("%s: no multipart upload by 04:00 (night %d)\n%s", s.branches[i].ID, n, tail(d.log.String(), 3000))
	}
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-d.done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("%s: the killed agent ended with %v", s.branches[i].ID, err)
	}
	s.kills++
	t.Logf("%s: killed mid-upload at %s (simulated); started again", s.branches[i].ID, s.now().Format(time.DateTime))
	s.procs[i] = s.startDaemon(t, i)
	s.restarts++
}

// morning checks night n in the bucket with the owner's key: every branch
// has a backup taken that night whose size and SHA-256 match its
// metadata, and the day's metrics document with the recomputed figures.
func (s *daemonSim) morning(t *testing.T, n int) {
	t.Helper()
	objects := readBucket(t, s.owner)
	date := s.date(n)
	night := date.Format(layout.DateFormat)
	for _, b := range s.branches {
		s.nightsWant++
		var found bool
		for key, o := range objects {
			br, nt, ok := backupNight(key, s.ist)
			if !ok || br != b.ID || nt != night {
				continue
			}
			if bad := backupProblem(o); bad != "" {
				t.Errorf("%s: %s", key, bad)
				continue
			}
			found = true
			s.backups++
		}
		if found {
			s.nightsOK++
		} else {
			t.Errorf("%s: no confirmed cloud copy of night %s by 07:00 the next morning", b.ID, night)
		}
		key, err := layout.MetricsKey(b.ID, date)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := objects[key]
		if !ok {
			t.Errorf("%s: no metrics document for %s", b.ID, night)
			continue
		}
		rc, _, err := s.owner.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		doc, err := metrics.Unmarshal(buf.Bytes())
		if err != nil {
			t.Errorf("%s (%d bytes): %v", key, o.Size, err)
			continue
		}
		want, err := recompute(context.Background(), b.URL, date, s.ist)
		if err != nil {
			t.Fatal(err)
		}
		if diffs := sameFigures(doc, want); len(diffs) > 0 {
			t.Errorf("%s: %s", key, strings.Join(diffs, "; "))
		}
		if !doc.IsFinal {
			t.Errorf("%s: not final after its night", key)
		}
		s.docs++
	}
}

// printFigures prints the run's figures.
func (s *daemonSim) printFigures(t *testing.T, took time.Duration) {
	t.Helper()
	ag := s.faults.Counts(agentAccessKey)
	var b strings.Builder
	fmt.Fprintf(&b, "nights on real daemons: %d branches x %d nights (%s to %s), clock rate %s, %d cores, %s\n",
		s.p.Branches, s.p.Nights, s.date(0).Format(time.DateOnly), s.date(s.p.Nights-1).Format(time.DateOnly),
		s.p.Rate, numCPU(), took.Round(time.Second))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(name string, v any) { fmt.Fprintf(w, "%s\t%v\t\n", name, v) }
	row("agent S3 requests", ag.Requests.Load())
	row("S3 outages across 22:00", strings.Join(s.outages, "; "))
	row("requests hung up on during the outages", ag.Outage.Load())
	row("503 bursts", strings.Join(s.bursts, "; "))
	row("503 answers", ag.Status503.Load())
	row("retries seen by the server", ag.Retries.Load())
	row("agents killed mid-upload / started again", fmt.Sprintf("%d / %d (night %d)", s.kills, s.restarts, s.p.KillNight))
	row("PostgreSQL restarts during a pg_dump", fmt.Sprintf("%d (night %d)", s.pgRestarts, s.p.RestartNight))
	row("wrong database password", fmt.Sprintf("night %d, %s, 21:00 to 04:30", s.p.PasswordNight, s.branches[s.p.PasswordBranch].ID))
	row("harness retries", 0)
	row("nights with a confirmed cloud copy / expected", fmt.Sprintf("%d / %d", s.nightsOK, s.nightsWant))
	row("backup objects (size and SHA-256 checked)", s.backups)
	row("documents present and recomputed", s.docs)
	row("aggregator syncs (none retried)", s.agg.Syncs)
	row("alerts delivered / expected", fmt.Sprintf("%d / %d: %s", len(s.agg.Hook.alerts()), 2*len(s.downs), strings.Join(s.agg.Hook.alerts(), ", ")))
	w.Flush()
	fmt.Print(b.String())
	t.Log("\n" + b.String())
}
