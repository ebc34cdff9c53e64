package alert

import (
	"fmt"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
)

// syncKey is the aggregator's own check in the per-check state: no
// branch id is empty, so it cannot collide with a branch's.
const syncKey = "/sync"

// ObserveSync takes the aggregator's own check (its syncs of the bucket):
// one alert when it goes down (syncs have failed long enough), one
// recovery alert when it is up again; none while it is late (failing,
// but not for long) and no reminders. Its records carry no branch. It
// returns whether the sync alert is raised, and never blocks on delivery.
func (n *Notifier) ObserveSync(c freshness.Check) bool {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	cs, ok := n.checks[syncKey]
	if !ok {
		cs = &checkState{}
		n.checks[syncKey] = cs
	}
	var kind Kind
	switch {
	case c.State == freshness.Down && !cs.Alerting:
		kind = KindDown
	case c.State == freshness.Up && cs.Alerting:
		kind = KindRecovered
	}
	changed := cs.State != c.State
	if kind != "" {
		n.raise(now, kind, Observation{Check: c}, cs.State)
		r := &n.history[len(n.history)-1]
		r.Text = syncText(r)
		cs.Alerting, cs.LastSent = kind == KindDown, now
		changed = true
	}
	cs.State = c.State
	if changed {
		n.saveLocked()
		n.poke()
	}
	return cs.Alerting
}

// syncText is the line of a sync alert.
func syncText(r *Record) string {
	if r.Kind == KindRecovered {
		return "Branchwatch: the aggregator reads the bucket again; branch states are current."
	}
	return fmt.Sprintf("Branchwatch: the aggregator cannot read the bucket; branch states may be stale. %s", r.Reason)
}
