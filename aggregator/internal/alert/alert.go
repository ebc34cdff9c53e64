// Package alert turns check states into alerts: one alert when a check
// goes down (or is never seen) and one when it is back up, an optional
// reminder while it stays down. Each alert is sent to every configured
// channel (alert/email, alert/telegram, alert/webhook), each channel with
// its own retry and backoff, in order, until it succeeds or fails for good.
// Records, their delivery state per channel (the outbox) and the per-check
// state are persisted in the data directory, so neither a restart nor a
// channel outage loses or repeats an alert. Observe never blocks on
// delivery.
package alert

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/safetext"
)

// Kind is why an alert was raised.
type Kind string

// Alert kinds.
const (
	KindDown      Kind = "down"
	KindRecovered Kind = "recovered"
	KindReminder  Kind = "reminder"
	KindTest      Kind = "test"   // aggregator test-alert; never recorded
	KindDigest    Kind = "digest" // the morning digest (see Notifier.Digest)
)

// Observation is one check's state as just judged.
type Observation struct {
	Branch     string
	BranchName string
	Check      freshness.Check
}

// Record is one alert raised, and what became of its delivery on each
// channel. Status sums the deliveries up: not-configured without a
// channel, pending while any is, failed when any failed for good,
// delivered when every channel took it.
type Record struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	Kind       Kind            `json:"kind"`
	Branch     string          `json:"branch_id"`
	BranchName string          `json:"branch_name"`
	Check      string          `json:"check"`
	State      freshness.State `json:"state"`
	Previous   freshness.State `json:"previous_state,omitempty"`
	Since      time.Time       `json:"since,omitzero"`
	Reason     string          `json:"reason"`
	// Subject is set on a digest (the other kinds make theirs).
	Subject    string     `json:"subject,omitempty"`
	Text       string     `json:"text"`
	Status     string     `json:"status"`
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is the record's delivery on one channel, if any.
func (r Record) Delivery(channel string) (Delivery, bool) {
	for _, d := range r.Deliveries {
		if d.Channel == channel {
			return d, true
		}
	}
	return Delivery{}, false
}

// clone is r with its own copy of the deliveries: records leave the
// notifier's lock only as clones.
func (r Record) clone() Record {
	r.Deliveries = append([]Delivery(nil), r.Deliveries...)
	return r
}

// summarize sets Status from the deliveries.
func (r *Record) summarize() {
	if len(r.Deliveries) == 0 {
		r.Status = StatusNotConfigured
		return
	}
	r.Status = StatusDelivered
	for _, d := range r.Deliveries {
		switch d.Status {
		case StatusPending:
			r.Status = StatusPending
			return
		case StatusFailed:
			r.Status = StatusFailed
		}
	}
}

// Message is the record as channels send it (names made safe again: a
// record may come from a history written by an older version).
func (r Record) Message() Message {
	text := r.Text
	r.BranchName, r.Reason, r.Text = safetext.Display(r.BranchName), safetext.Display(r.Reason), safetext.Display(r.Text)
	if r.Kind == KindDigest {
		// A digest is several lines, each made safe where it was written.
		r.Text = safeLines(text)
	}
	return Message{ID: r.ID, Kind: r.Kind, BranchID: r.Branch, BranchName: r.BranchName, Check: r.Check,
		State: r.State, Previous: r.Previous, Since: r.Since, Reason: r.Reason, RaisedAt: r.Time,
		Subject: subject(r), Text: r.Text}
}

// Problem is a check that is not up right now.
type Problem struct {
	Branch     string          `json:"branch_id"`
	BranchName string          `json:"branch_name"`
	Check      string          `json:"check"`
	State      freshness.State `json:"state"`
	Since      time.Time       `json:"since,omitzero"`
	Reason     string          `json:"reason"`
}

// Options configures a Notifier.
type Options struct {
	// Channels are where alerts go; none records alerts without sending.
	Channels []Channel
	Dir      string        // data directory for the history; "" keeps it in memory
	Reminder time.Duration // 0: no reminders
	// HistorySize is how many records are kept (500 when zero).
	HistorySize int
	// MinBackoff and MaxBackoff bound the wait between delivery attempts
	// on one channel (1s and 5m when zero); Timeout bounds one attempt
	// (30s).
	MinBackoff, MaxBackoff, Timeout time.Duration
	// OnAttempt, when set, is called after every delivery attempt with the
	// record as updated and the channel's name (outside the notifier's
	// lock).
	OnAttempt func(r Record, channel string)
	Now       func() time.Time
	Logger    *slog.Logger
}

// checkState is what the notifier remembers of one check.
type checkState struct {
	State    freshness.State `json:"state"`
	Alerting bool            `json:"alerting"` // a down alert was raised and no recovery since
	LastSent time.Time       `json:"last_sent,omitzero"`
}

// Notifier raises and delivers alerts.
type Notifier struct {
	o    Options
	wake map[string]chan struct{} // by channel
	// baseline, when not zero, is when the damaged history was last
	// written: the first observation after it takes failing checks older
	// than that as already alerted (see load).
	baseline time.Time

	mu      sync.Mutex
	checks  map[string]*checkState // by branch + "/" + check
	history []Record               // oldest first
	nextID  int64
	current []Problem
	// lastDigest is the date (YYYY-MM-DD) of the last digest queued.
	lastDigest string

	sent, failed int64
	byChannel    map[string]*ChannelStats
}

// ChannelStats counts one channel's deliveries since start.
type ChannelStats struct {
	Channel string
	Pending int   // alerts waiting for delivery on it now
	Sent    int64 // deliveries that succeeded
	Failed  int64 // attempts that failed (retried or not)
}

// New returns a Notifier, loading the history kept in o.Dir.
func New(o Options) (*Notifier, error) {
	if o.HistorySize <= 0 {
		o.HistorySize = 500
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{o: o, wake: map[string]chan struct{}{}, checks: map[string]*checkState{}, nextID: 1, byChannel: map[string]*ChannelStats{}}
	for _, c := range o.Channels {
		n.byChannel[c.Name()] = &ChannelStats{Channel: c.Name()}
		if _, dup := n.wake[c.Name()]; dup {
			return nil, fmt.Errorf("alert: two channels named %q", c.Name())
		}
		n.wake[c.Name()] = make(chan struct{}, 1)
	}
	if err := n.load(); err != nil {
		return nil, err
	}
	return n, nil
}

// Observe compares the checks with what was seen before and raises the
// alerts due; it returns at once (delivery runs in Run).
func (n *Notifier) Observe(obs []Observation) {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	raised := 0
	n.current = n.current[:0]
	for _, ob := range obs {
		st := ob.Check.State
		if st != freshness.Up {
			n.current = append(n.current, Problem{Branch: ob.Branch, BranchName: ob.BranchName, Check: ob.Check.Name,
				State: st, Since: ob.Check.Since, Reason: ob.Check.Reason})
		}
		key := ob.Branch + "/" + ob.Check.Name
		cs, known := n.checks[key]
		if !known {
			cs = &checkState{}
			n.checks[key] = cs
		}
		if !known && !n.baseline.IsZero() && st.Failing() && (ob.Check.Since.IsZero() || ob.Check.Since.Before(n.baseline)) {
			// Failing before the damaged history was last written: it was
			// alerted then. Taken as alerting, not sent again.
			cs.State, cs.Alerting, cs.LastSent = st, true, now
			n.o.Logger.Info("alert history restarted: problem taken as already alerted", "branch", ob.Branch, "check", ob.Check.Name, "state", st)
			raised++
			continue
		}
		var kind Kind
		switch {
		case st.Failing() && !cs.Alerting:
			kind = KindDown
		case st == freshness.Up && cs.Alerting:
			kind = KindRecovered
		case st.Failing() && n.o.Reminder > 0 && now.Sub(cs.LastSent) >= n.o.Reminder:
			kind = KindReminder
		}
		if kind != "" {
			n.raise(now, kind, ob, cs.State)
			cs.Alerting, cs.LastSent = kind != KindRecovered, now
			raised++
		}
		if cs.State != st {
			cs.State = st
			raised++ // the state itself is persisted too
		}
	}
	if !n.baseline.IsZero() {
		n.baseline = time.Time{}
		raised++
	}
	if raised > 0 {
		n.saveLocked()
		n.poke()
	}
}

// raise appends a record; n.mu is held.
func (n *Notifier) raise(now time.Time, kind Kind, ob Observation, prev freshness.State) {
	r := Record{ID: n.nextID, Time: now, Kind: kind, Branch: ob.Branch, BranchName: safetext.Display(ob.BranchName),
		Check: ob.Check.Name, State: ob.Check.State, Previous: prev, Since: ob.Check.Since, Reason: safetext.Display(ob.Check.Reason)}
	r.Text = text(r)
	for _, c := range n.o.Channels {
		r.Deliveries = append(r.Deliveries, Delivery{Channel: c.Name(), Status: StatusPending})
	}
	r.summarize()
	n.nextID++
	n.history = append(n.history, r)
	n.trimLocked()
	n.o.Logger.Warn("alert", "id", r.ID, "kind", kind, "branch", ob.Branch, "check", ob.Check.Name, "state", ob.Check.State, "reason", r.Reason)
}

// subject is the short line of an alert (an email's subject).
func subject(r Record) string {
	switch r.Kind {
	case KindDigest:
		return r.Subject
	case KindRecovered:
		return fmt.Sprintf("Branchwatch: %s %s UP", who(r), r.Check)
	case KindReminder:
		return fmt.Sprintf("Branchwatch reminder: %s %s still %s", who(r), r.Check, upper(r.State))
	}
	return fmt.Sprintf("Branchwatch: %s %s %s", who(r), r.Check, upper(r.State))
}

// who names the branch: its display name and its id.
func who(r Record) string {
	if r.Branch == "" {
		return "aggregator" // its own check (the sync of the bucket)
	}
	if r.BranchName != "" && r.BranchName != r.Branch {
		return fmt.Sprintf("%s (%s)", r.BranchName, r.Branch)
	}
	return r.Branch
}

// text is the human-readable line of an alert.
func text(r Record) string {
	who := who(r)
	switch r.Kind {
	case KindRecovered:
		return fmt.Sprintf("Branchwatch: %s %s check is back UP: %s", who, r.Check, r.Reason)
	case KindReminder:
		return fmt.Sprintf("Branchwatch reminder: %s %s check is still %s: %s", who, r.Check, upper(r.State), r.Reason)
	}
	return fmt.Sprintf("Branchwatch: %s %s check is %s: %s", who, r.Check, upper(r.State), r.Reason)
}

func upper(s freshness.State) string {
	switch s {
	case freshness.Down:
		return "DOWN"
	case freshness.Never:
		return "NEVER SEEN"
	case freshness.Late:
		return "LATE"
	}
	return "UP"
}

// trimLocked keeps at most HistorySize records, dropping delivered ones
// first; an undelivered one is dropped only past twice the size, loudly.
func (n *Notifier) trimLocked() {
	over := len(n.history) - n.o.HistorySize
	if over <= 0 {
		return
	}
	kept := n.history[:0]
	for _, r := range n.history {
		if over > 0 && r.Status != StatusPending {
			over--
			continue
		}
		kept = append(kept, r)
	}
	n.history = kept
	for len(n.history) > 2*n.o.HistorySize {
		n.o.Logger.Error("alert dropped undelivered: history full", "id", n.history[0].ID, "text", n.history[0].Text)
		n.history = n.history[1:]
	}
}

// History is every kept record, newest first.
func (n *Notifier) History() []Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Record, len(n.history))
	for i, r := range n.history {
		out[len(out)-1-i] = r.clone()
	}
	return out
}

// Current is every check that is not up, as last observed.
func (n *Notifier) Current() []Problem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Problem(nil), n.current...)
}

// Pending counts records waiting for delivery.
func (n *Notifier) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, r := range n.history {
		if r.Status == StatusPending {
			c++
		}
	}
	return c
}

// Channels is each configured channel's counts, in configuration order.
func (n *Notifier) Channels() []ChannelStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]ChannelStats, 0, len(n.o.Channels))
	for _, c := range n.o.Channels {
		st := *n.byChannel[c.Name()]
		for _, r := range n.history {
			if d, ok := r.Delivery(st.Channel); ok && d.Status == StatusPending {
				st.Pending++
			}
		}
		out = append(out, st)
	}
	return out
}

// Counts returns the deliveries that succeeded and the attempts that failed.
func (n *Notifier) Counts() (sent, failed int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.failed
}

func (n *Notifier) poke() {
	for _, w := range n.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}
