package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Branch is one demo branch.
type Branch struct {
	ID   string
	Name string
	Seed int
	// BillsPerDay is the branch's mean bills on a plain weekday (its
	// size: rent and staff scale with it); 0 is the agent's default.
	BillsPerDay int
	// StaleDays > 0 withholds the branch's metrics documents of its last
	// StaleDays business days, as if its agent had stopped reporting then:
	// its metrics check goes down and the dashboard shows an alert.
	StaleDays int
}

// DefaultBranches are the demo's three branches of different sizes, the
// last one stale.
var DefaultBranches = []Branch{
	{ID: "branch-andheri", Name: "Andheri West", Seed: 11, BillsPerDay: 60},
	{ID: "branch-bandra", Name: "Bandra", Seed: 22, BillsPerDay: 75},
	{ID: "branch-powai", Name: "Powai", Seed: 33, BillsPerDay: 45, StaleDays: 3},
}

// agentEnv is the complete environment of one branch's agent.
func (d *Demo) agentEnv(b Branch) []string {
	return append(d.baseEnv(),
		"DATABASE_URL="+d.pg.URL(b.ID),
		"BRANCH_ID="+b.ID,
		"BRANCH_NAME="+b.Name,
		"BRANCH_TIMEZONE="+Timezone,
		"BACKUP_DIR="+filepath.Join(d.opts.Dir, "branches", b.ID),
		"METRICS_CATCHUP_DAYS="+strconv.Itoa(d.opts.Days),
		// The demo runs one-off commands, never the daemon: keep any
		// listener off the machine's ports.
		"AGENT_LISTEN=127.0.0.1:0",
		"LOG_LEVEL=info",
	)
}

// prepareBranch fills the branch database and takes the branch through
// what its agent does: the start-up catch-ups, today's metrics, a backup.
func (d *Demo) prepareBranch(ctx context.Context, b Branch) error {
	agent := filepath.Join(d.opts.BinDir, "agent")
	env := d.agentEnv(b)
	logPath := filepath.Join(d.opts.Dir, "logs", b.ID+".log")
	step := func(args ...string) error {
		return run(ctx, b.ID+": agent "+args[0], agent, args, env, logPath)
	}
	gen := []string{"demo-data", "--days", strconv.Itoa(d.opts.Days), "--seed", strconv.Itoa(b.Seed)}
	if b.BillsPerDay > 0 {
		gen = append(gen, "--bills-per-day", strconv.Itoa(b.BillsPerDay))
	}
	if err := step(gen...); err != nil {
		return err
	}
	if err := step("catchup"); err != nil {
		return err
	}
	if b.StaleDays > 0 {
		if err := d.withholdMetrics(ctx, b); err != nil {
			return err
		}
	} else {
		// Today's document: intra-day before the summary time, final after
		// it, so that the branch is up whatever the time of day.
		today := d.now().Format("2006-01-02")
		if err := step("push-metrics", "--date", today); err != nil {
			return err
		}
	}
	return step("backup")
}

// withholdMetrics deletes the branch's metrics documents of its last
// StaleDays days (the agent's catch-up pushed them).
func (d *Demo) withholdMetrics(ctx context.Context, b Branch) error {
	st, err := store.NewS3(d.s3Options())
	if err != nil {
		return err
	}
	yesterday := d.now().AddDate(0, 0, -1)
	for i := 0; i < b.StaleDays; i++ {
		key, err := layout.MetricsKey(b.ID, yesterday.AddDate(0, 0, -i))
		if err != nil {
			return err
		}
		if err := st.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: withhold %s: %w", b.ID, key, err)
		}
	}
	return nil
}

// now is the time in the branches' zone.
func (d *Demo) now() time.Time {
	return d.opts.Now().In(d.loc)
}
