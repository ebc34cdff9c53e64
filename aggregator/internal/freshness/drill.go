package freshness

import (
	"fmt"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/web/format"
)

// Check names of the proof checks.
const (
	CheckDrill = "drill"
	CheckAgent = "agent"
)

// Defaults of the drill schedule (DRILL_PERIOD, DRILL_GRACE).
const (
	DefaultDrillPeriod = 7 * 24 * time.Hour
	DefaultDrillGrace  = 24 * time.Hour
)

// AgentStaleAfter is how old the agent status may grow, while the branch's
// metrics are late too, before the agent counts as gone.
const AgentStaleAfter = 48 * time.Hour

// DrillSchedule is a restore drill expected every Period, with Grace
// before the check is late; down after twice the period.
type DrillSchedule struct {
	Period time.Duration
	Grace  time.Duration
}

func (d DrillSchedule) orDefault() DrillSchedule {
	if d.Period <= 0 {
		d.Period, d.Grace = DefaultDrillPeriod, max(d.Grace, DefaultDrillGrace)
	}
	return d
}

// DrillCheck judges the restore drill check: up while the newest drill
// passed and is within Period plus Grace; late after that; down when the
// newest failed (its error is the reason) or when there has been none
// for twice the period; never without any drill record (which the
// service does not alert on: drills are the agent's choice).
func (p Policy) DrillCheck(b *index.Branch, loc *time.Location, now time.Time) Check {
	s := p.Drill.orDefault()
	c := Check{Name: CheckDrill}
	d := b.Proof.LatestDrill()
	if d == nil {
		c.State, c.Reason = Never, "no restore drill record has been seen in the bucket"
		return c
	}
	at, err := time.Parse(time.RFC3339, d.DrilledAt)
	if err != nil || outOfRange(&c, "restore drill", at) {
		c.State, c.Reason = Down, "the newest restore drill record has no readable time"
		return c
	}
	c.LastSeen = at
	lateAt, downAt := at.Add(s.Period+s.Grace), at.Add(max(2*s.Period, s.Period+s.Grace))
	c.Due = at.Add(s.Period).In(loc)
	date := at.In(loc).Format("2006-01-02")
	switch {
	case !d.OK:
		c.State, c.Since = Down, at
		c.Reason = fmt.Sprintf("the restore drill of %s failed: %s", date, d.Error)
	case now.Before(lateAt):
		c.State, c.Since = Up, at
		c.Reason = fmt.Sprintf("the restore drill of %s passed (%s); next due %s", date, drillSize(d), stamp(c.Due, loc))
	case now.Before(downAt):
		c.State, c.Since = Late, lateAt
		c.Reason = fmt.Sprintf("no restore drill since %s: one was due %s (grace %s)", date, stamp(c.Due, loc), s.Grace)
	default:
		c.State, c.Since = Down, downAt
		c.Reason = fmt.Sprintf("no restore drill since %s, twice the period of %s", date, s.Period)
	}
	return c
}

// drillSize is "N tables, M rows".
func drillSize(d *index.Drill) string {
	var rows int64
	for _, t := range d.Tables {
		if t.Restored != nil {
			rows += *t.Restored
		}
	}
	return fmt.Sprintf("%d tables, %d rows", len(d.Tables), rows)
}

// AgentCheck judges the branch agent from its status document: down when
// BACKUP_DIR has less free space than twice the last dump, when a doctor
// check fails, or when the status is older than AgentStaleAfter while
// the metrics check (metrics) is late or down too: the agent is gone,
// not just one job. Unknown without a status document (older agents
// write none): it never alerts then.
func AgentCheck(b *index.Branch, metrics Check, loc *time.Location, now time.Time) Check {
	c := Check{Name: CheckAgent}
	if b.Proof == nil || b.Proof.Agent == nil {
		c.State, c.Reason = Unknown, "no agent status document (the agent predates it, or cannot write to the bucket)"
		return c
	}
	st := b.Proof.Agent.Status
	updated := st.UpdatedTime()
	c.LastSeen = updated
	var problems []string
	if st.BackupDirFreeBytes != nil && st.LastDumpSize != nil && *st.BackupDirFreeBytes < 2**st.LastDumpSize {
		problems = append(problems, fmt.Sprintf("BACKUP_DIR has %s free, less than twice the last dump (%s)",
			format.Bytes(*st.BackupDirFreeBytes), format.Bytes(*st.LastDumpSize)))
	}
	for _, f := range st.DoctorFailing() {
		problems = append(problems, fmt.Sprintf("check %s fails: %s: %s", f.Check, f.Setting, f.Detail))
	}
	if len(st.Doctor) == 0 {
		for _, f := range st.Failing {
			problems = append(problems, "check fails: "+f)
		}
	}
	if age := now.Sub(updated); age > AgentStaleAfter && (metrics.State == Late || metrics.State == Down) {
		problems = append(problems, fmt.Sprintf("no agent status since %s while the metrics are %s: the agent seems gone", stamp(updated, loc), metrics.State))
	}
	if len(problems) > 0 {
		c.State, c.Since = Down, updated
		c.Reason = strings.Join(problems, "; ")
		return c
	}
	c.State, c.Since = Up, updated
	c.Reason = fmt.Sprintf("agent %s reported %s; every check passes", st.AgentVersion, stamp(updated, loc))
	return c
}
