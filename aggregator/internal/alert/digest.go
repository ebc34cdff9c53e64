package alert

import (
	"strings"

	"github.com/branchwatch/branchwatch/shared/safetext"
)

// Digest queues the morning digest of a business day to every channel,
// through the same outbox, retries and delivery states as an alert. It
// is queued once per day: the day is remembered in the history file, so
// a restart on the same day does not send it again. date is the day the
// digest is sent for (YYYY-MM-DD, the aggregator's zone); queued reports
// whether it was queued now.
func (n *Notifier) Digest(date, subject, text string) (queued bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lastDigest >= date {
		return false
	}
	r := Record{ID: n.nextID, Time: n.o.Now(), Kind: KindDigest, Subject: subject, Text: text}
	for _, c := range n.o.Channels {
		r.Deliveries = append(r.Deliveries, Delivery{Channel: c.Name(), Status: StatusPending})
	}
	r.summarize()
	n.nextID++
	n.history = append(n.history, r)
	n.trimLocked()
	n.lastDigest = date
	n.saveLocked()
	n.o.Logger.Info("digest queued", "id", r.ID, "date", date)
	n.poke()
	return true
}

// LastDigest is the date of the last digest queued ("" when none).
func (n *Notifier) LastDigest() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastDigest
}

// safeLines makes every line of s safe to show, keeping the line breaks.
func safeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = safetext.Display(l)
	}
	return strings.Join(lines, "\n")
}
