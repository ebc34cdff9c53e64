// Package freshness judges whether each branch reports on time, in the
// healthchecks.io model: a check expects a success every day by a local
// time, then allows a grace period. States: up (the latest expected
// success arrived), late (overdue, inside the grace period), down (past
// grace), never (nothing ever seen). The backup check also goes down on a
// dump smaller than half the median of the previous ones, the commonest
// failure of backup tools (a near-empty dump reported as success).
//
// Everything takes the time as an argument: no clock is read here.
package freshness

import (
	"fmt"
	"slices"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/web/format"
)

// State is a check's state.
type State string

// The states of a check.
const (
	Up    State = "up"
	Late  State = "late"
	Down  State = "down"
	Never State = "never"
	// Unknown means the bucket has not been read yet: no judgement (an
	// expected branch before the first good sync). It never alerts.
	Unknown State = "unknown"
)

// Failing reports whether the state is one that alerts (down or never).
func (s State) Failing() bool { return s == Down || s == Never }

// Check names.
const (
	CheckMetrics = "metrics"
	CheckBackup  = "backup"
)

// Schedule is a daily expectation: a success by At (offset from local
// midnight) every day, with Grace before the check goes down.
type Schedule struct {
	At    time.Duration
	Grace time.Duration
}

// on is the expected time on the calendar day of t, in t's zone.
func (s Schedule) on(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location()).Add(s.At)
}

// Check is one judged check.
type Check struct {
	Name  string    `json:"name"`
	State State     `json:"state"`
	Since time.Time `json:"since,omitzero"` // when the current state began
	// LastSeen is the time of the latest success: a document's generated_at,
	// a dump's start.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Due is the next expected success; late after it, down after Due+grace.
	Due    time.Time `json:"due,omitzero"`
	Reason string    `json:"reason"`
}

// Policy holds both schedules.
type Policy struct {
	Metrics Schedule
	Backup  Schedule
	// Drill is the restore drill's schedule (defaults when zero).
	Drill DrillSchedule
	// MinSizeHistory is how many earlier backups the size rule needs
	// (3 when zero); the rule compares with the median of the last 7.
	MinSizeHistory int
}

// sizeWindow is how many earlier backups the size median is taken over.
const sizeWindow = 7

// MetricsCheck judges the metrics check: the final document of date D is
// expected by D at Metrics.At in the branch's zone loc.
func (p Policy) MetricsCheck(b *index.Branch, loc *time.Location, now time.Time) Check {
	c := Check{Name: CheckMetrics}
	d := b.LatestFinal()
	if d == nil {
		c.State, c.Reason = Never, "no final metrics document has been received"
		if b.Latest() != nil {
			c.Reason = "no final metrics document yet (only an intra-day one)"
		}
		return c
	}
	date, _ := time.ParseInLocation("2006-01-02", d.SummaryDate, loc)
	covered := p.Metrics.on(date)
	if outOfRange(&c, "final metrics document "+d.SummaryDate, covered) {
		return c
	}
	c.LastSeen, _ = d.GeneratedTime()
	judge(&c, p.Metrics, covered, now, loc)
	switch c.State {
	case Up:
		c.Reason = fmt.Sprintf("final metrics for %s received; next due %s", d.SummaryDate, stamp(c.Due, loc))
	case Late:
		c.Reason = fmt.Sprintf("metrics for %s were due %s (grace until %s); latest final is %s",
			index.DateString(c.Due.In(loc)), stamp(c.Due, loc), stamp(c.Due.Add(p.Metrics.Grace), loc), d.SummaryDate)
	case Down:
		c.Reason = fmt.Sprintf("no final metrics for %s, due %s plus %s of grace; latest final is %s",
			index.DateString(c.Due.In(loc)), stamp(c.Due, loc), format.Duration(p.Metrics.Grace), d.SummaryDate)
	}
	return c
}

// BackupCheck judges the backup check: a dump every day by Backup.At in
// the branch's zone; a dump counts for the expected time nearest to its
// start. The newest dump, when smaller than half the median of the (up
// to 7) before it, makes the check down whatever its time.
func (p Policy) BackupCheck(b *index.Branch, loc *time.Location, now time.Time) Check {
	c := Check{Name: CheckBackup}
	nb := b.LatestBackup()
	if nb == nil {
		c.State, c.Reason = Never, "no backup has been seen in the bucket"
		return c
	}
	taken := nb.Taken(loc)
	if outOfRange(&c, "dump "+nb.Name, taken) {
		return c
	}
	c.LastSeen = taken
	if med, n, ok := p.sizeMedian(b); ok && nb.Size*2 < med {
		c.State, c.Since = Down, taken
		c.Due = p.nearest(taken).AddDate(0, 0, 1)
		c.Reason = fmt.Sprintf("latest dump %s is %s, less than half the median %s of the %d before it",
			nb.Name, format.Bytes(nb.Size), format.Bytes(med), n)
		return c
	}
	judge(&c, p.Backup, p.nearest(taken), now, loc)
	switch c.State {
	case Up:
		c.Reason = fmt.Sprintf("latest dump %s (%s); next due %s", nb.Name, format.Bytes(nb.Size), stamp(c.Due, loc))
	case Late:
		c.Reason = fmt.Sprintf("backup was due %s (grace until %s); latest dump started %s",
			stamp(c.Due, loc), stamp(c.Due.Add(p.Backup.Grace), loc), stamp(taken, loc))
	case Down:
		c.Reason = fmt.Sprintf("no backup since %s; one was due %s plus %s of grace",
			stamp(taken, loc), stamp(c.Due, loc), format.Duration(p.Backup.Grace))
	}
	return c
}

// nearest is the expected backup time nearest to t (t's day, the day
// before or the day after).
func (p Policy) nearest(t time.Time) time.Time {
	o := p.Backup.on(t)
	best := o
	for _, c := range []time.Time{o.AddDate(0, 0, -1), o.AddDate(0, 0, 1)} {
		if absDur(c.Sub(t)) < absDur(best.Sub(t)) {
			best = c
		}
	}
	return best
}

// sizeMedian is the median size of the (up to 7) backups before the
// newest, and how many there were; ok is false with too few.
func (p Policy) sizeMedian(b *index.Branch) (int64, int, bool) {
	minHist := p.MinSizeHistory
	if minHist <= 0 {
		minHist = 3
	}
	n := len(b.Backups) - 1
	if n < minHist {
		return 0, n, false
	}
	lo := max(0, n-sizeWindow)
	sizes := make([]int64, 0, n-lo)
	for _, bk := range b.Backups[lo:n] {
		sizes = append(sizes, bk.Size)
	}
	slices.Sort(sizes)
	k := len(sizes)
	if k%2 == 1 {
		return sizes[k/2], k, true
	}
	return (sizes[k/2-1] + sizes[k/2]) / 2, k, true
}

// judge sets State, Since and Due from the expected time the latest
// success covered.
func judge(c *Check, s Schedule, covered, now time.Time, loc *time.Location) {
	c.Due = covered.In(loc).AddDate(0, 0, 1)
	switch {
	case now.Before(c.Due):
		c.State, c.Since = Up, c.LastSeen
	case now.Before(c.Due.Add(s.Grace)):
		c.State, c.Since = Late, c.Due
	default:
		c.State, c.Since = Down, c.Due.Add(s.Grace)
	}
}

// outOfRange guards the encoders: a success dated outside the years the
// bucket layout accepts (which the syncer already refuses, but a snapshot
// written by an older version may hold) makes the check down with no
// times, rather than a next-due time JSON cannot encode.
func outOfRange(c *Check, what string, t time.Time) bool {
	if layout.CheckYear(t) == nil {
		return false
	}
	c.State = Down
	c.Reason = fmt.Sprintf("the latest %s is dated outside the years %d-%d", what, layout.MinYear, layout.MaxYear)
	return true
}

func stamp(t time.Time, loc *time.Location) string {
	return format.DateTime(t.In(loc))
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
