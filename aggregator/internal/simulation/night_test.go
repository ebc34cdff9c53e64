package simulation_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
)

// night runs one business day: the morning's sales, the 21:45 metrics
// push, the 22:00 backup, the aggregator's syncs at 09:30, 23:30 and
// 00:30, and the Sunday 02:00 cloud cleanup; plus the night's event.
func (m *month) night(t *testing.T, n int) {
	t.Helper()
	p := m.p
	outage := m.branches[p.OutageBranch]
	date := m.date(n).Format(time.DateOnly)
	if n == p.OutageNight+1 {
		m.setConnections(t, outage, true)
	}
	each(m.branches, p.Parallel, func(i int, b *branch) {
		m.mustRun(t, b, m.at(n, 8, 0, i), "demo-data", "--days", "1", "--end", date, "--seed", strconv.Itoa(i+1),
			"--bills-per-day", strconv.Itoa(p.BillsPerDay))
	})
	if n == p.OutageNight+1 {
		// The database is back: the agent starts again and catches up.
		m.mustRun(t, outage, m.at(n, 9, 0, 0), "catchup")
	}
	m.agg.syncAt(t, m.at(n, 9, 30, 0))
	m.expect(t, n, "09:30")

	if n == p.OutageNight {
		m.setConnections(t, outage, false)
	}
	each(m.branches, p.Parallel, func(i int, b *branch) {
		res := m.agents.run(context.Background(), b, m.at(n, 21, 45, i), nil, "push-metrics", "--date", date)
		wantFail := n == p.OutageNight && i == p.OutageBranch
		if wantFail != (res.Exit != 0) {
			t.Errorf("%s push-metrics %s (database down: %v): %s", b.ID, date, wantFail, res)
		}
	})
	m.backups(t, n)

	m.agg.syncAt(t, m.at(n, 23, 30, 0))
	m.expect(t, n, "23:30")
	m.agg.syncAt(t, m.at(n+1, 0, 30, 0))
	m.expect(t, n, "00:30")
	if m.date(n+1).Weekday() == time.Sunday {
		each(m.branches, p.Parallel, func(i int, b *branch) {
			m.mustRun(t, b, m.at(n+1, 2, 0, i), "cleanup")
		})
	}
}

// backups runs the 22:00 backups. On the restart night the PostgreSQL
// server restarts once the first backup is done, under the others (off:
// RestartNight -1, see plan); the harness runs no backup again. On
// the kill night one agent is killed mid-upload and started again.
func (m *month) backups(t *testing.T, n int) {
	t.Helper()
	p := m.p
	restarted := make(chan struct{})
	var restartOnce sync.Once
	restart := func() {
		restartOnce.Do(func() {
			go func() {
				defer close(restarted)
				if err := m.pg.Restart(); err != nil {
					t.Errorf("restart PostgreSQL: %v", err)
				}
				m.restarts++
			}()
		})
	}
	each(m.branches, p.Parallel, func(i int, b *branch) {
		at := m.at(n, 22, 0, i)
		if n == p.KillNight && i == p.KillBranch {
			m.killDuringUpload(t, b, at)
			return
		}
		res := m.agents.run(context.Background(), b, at, nil, "backup")
		if n == p.RestartNight {
			restart()
		}
		wantFail := n == p.OutageNight && i == p.OutageBranch
		if wantFail != (res.Exit != 0) {
			t.Errorf("%s backup of %s (database down: %v): %s", b.ID, m.date(n).Format(time.DateOnly), wantFail, res)
		}
	})
	if n == p.RestartNight {
		<-restarted
	}
}

// killDuringUpload runs b's backup, kills it (SIGKILL) while the bucket
// holds its first multipart part, and starts it again five minutes later.
func (m *month) killDuringUpload(t *testing.T, b *branch, at time.Time) {
	t.Helper()
	held := m.faults.HoldUpload(b.ID + "/backups/")
	defer m.faults.hold.Store(nil)
	procs := make(chan *os.Process, 1)
	done := make(chan agentRun, 1)
	go func() {
		done <- m.agents.run(context.Background(), b, at, func(p *os.Process) { procs <- p }, "backup")
	}()
	proc := <-procs
	select {
	case <-held:
		if err := proc.Kill(); err != nil {
			t.Errorf("kill the agent: %v", err)
		}
		if res := <-done; !res.Killed {
			t.Errorf("%s: the killed backup ended otherwise: %s", b.ID, res)
		}
	case res := <-done:
		t.Errorf("%s: the backup ended before its upload could be held (is the dump under one part?): %s", b.ID, res)
		return
	}
	m.agents.reruns.Add(1)
	if res := m.agents.run(context.Background(), b, at.Add(5*time.Minute), nil, "backup"); res.Exit != 0 {
		t.Errorf("%s: the backup started again after the kill failed: %s", b.ID, res)
	}
}

// expect checks every branch's states at a checkpoint: all up, except
// the branch whose database is down, which goes late, then down, then
// recovers (metrics with the morning catch-up, backup with the next
// night's backup).
func (m *month) expect(t *testing.T, n int, when string) {
	t.Helper()
	p := m.p
	up := [2]freshness.State{freshness.Up, freshness.Up}
	states := m.agg.states()
	for i, b := range m.branches {
		want := up
		if i == p.OutageBranch {
			switch {
			case n == p.OutageNight && when == "23:30":
				want = [2]freshness.State{freshness.Late, freshness.Late}
			case n == p.OutageNight && when == "00:30":
				want = [2]freshness.State{freshness.Down, freshness.Down}
				m.outageDown[b.ID+"/"+freshness.CheckMetrics] = true
				m.outageDown[b.ID+"/"+freshness.CheckBackup] = true
			case n == p.OutageNight+1 && when == "09:30":
				want = [2]freshness.State{freshness.Up, freshness.Down}
			}
		}
		if got := states[b.ID]; got != want {
			t.Errorf("%s %s night %d: %s is metrics %s, backup %s; want %s, %s", m.date(n).Format(time.DateOnly), when, n,
				b.ID, got[0], got[1], want[0], want[1])
		}
	}
	if len(states) != len(m.branches) {
		t.Errorf("the aggregator sees %d branches, want %d", len(states), len(m.branches))
	}
}
