// Package digest writes the owner's morning digest (the headline date's
// totals, each branch's net revenue against the same weekday a week
// before, the unusual days and the open problems) and sends it once a day
// at DIGEST_TIME through the alert notifier's channels.
package digest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/safetext"
	"github.com/branchwatch/branchwatch/web/format"
)

// Message is a digest: Subject is one short line (an email's subject, a
// notification's title); Text the lines of the message.
type Message struct {
	Subject, Text string
}

// Compose writes the digest of a summary and the open problems.
func Compose(s business.Summary, problems []alert.Problem) Message {
	var b strings.Builder
	var subject string
	if !s.OK {
		subject = "Branchwatch: no business day yet"
		b.WriteString("Branchwatch: no branch has sent a final day yet.\n")
	} else {
		head := fmt.Sprintf("%s: %s net revenue, %d of %d branches reported",
			format.Day(s.Date), format.Money(s.Net), s.Reported, len(s.Branches))
		subject = "Branchwatch " + format.ShortDay(s.Date) + ": " + format.Money(s.Net) + fmt.Sprintf(", %d of %d reported", s.Reported, len(s.Branches))
		b.WriteString("Branchwatch, " + head + "\n")
		for _, br := range s.Branches {
			if !br.Reported {
				continue
			}
			b.WriteString("• " + safetext.Display(br.Name) + ": " + format.Money(br.Day.NetRevenue))
			if c := br.SameWeekday; c.OK {
				b.WriteString(" (" + format.Change(c.Ratio) + " on last " + br.Day.Date.Weekday().String() + ")")
			} else {
				b.WriteString(" (no " + br.Day.Date.Weekday().String() + " a week before to compare)")
			}
			b.WriteString("\n")
		}
		if m := s.Missing(); len(m) > 0 {
			names := make([]string, len(m))
			for i, br := range m {
				names[i] = safetext.Display(br.Name)
			}
			b.WriteString("Missing for " + format.ShortDay(s.Date) + ": " + strings.Join(names, ", ") + "\n")
		}
		if u := s.Unusual(); len(u) > 0 {
			b.WriteString("Unusual:\n")
			for _, br := range u {
				b.WriteString("• " + safetext.Display(br.Name) + ": " + UnusualWords(br.Day, br.Unusual) + "\n")
			}
		}
	}
	if len(problems) == 0 {
		b.WriteString("All checks are up.")
	} else {
		subject += fmt.Sprintf(", %d %s", len(problems), plural(len(problems), "problem", "problems"))
		b.WriteString(fmt.Sprintf("%d open %s:\n", len(problems), plural(len(problems), "problem", "problems")))
		for _, p := range problems {
			b.WriteString("• " + safetext.Display(p.BranchName) + " " + p.Check + " " + strings.ToUpper(string(p.State)))
			if p.Reason != "" {
				b.WriteString(": " + safetext.Display(p.Reason))
			}
			b.WriteString("\n")
		}
	}
	return Message{Subject: subject, Text: strings.TrimRight(b.String(), "\n")}
}

// UnusualWords says why a day was flagged: "₹2,000.00 net revenue is below
// half the usual Sunday (median of the last 8 Sundays: ₹10,000.00)".
func UnusualWords(d business.Day, u business.Unusual) string {
	if !u.Flag {
		return ""
	}
	wd := d.Date.Weekday().String()
	how := "below half"
	if !u.Low {
		how = "over twice"
	}
	return fmt.Sprintf("%s net revenue is %s the usual %s (median of the last %d %ss: %s)",
		format.Money(d.NetRevenue), how, wd, u.Samples, wd, format.Money(u.Median))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Source is what the digest reads from the aggregator's core.
type Source interface {
	Branches() []service.BranchStatus
	// Series is every branch's business series, read in place from the
	// index and kept per sync (the dashboard's too): the digest decodes
	// no document.
	Series() (map[string]*business.Branch, uint64)
	Alerts() ([]alert.Problem, []alert.Record)
	LastSync() service.SyncStatus
}

// Build composes the digest of date d (the headline date when zero) from
// the source's current index.
func Build(src Source, d time.Time) Message {
	statuses := src.Branches()
	series, _ := src.Series()
	sum := business.Summarize(business.Select(series, service.HeadlineStatuses(statuses)), d)
	problems, _ := src.Alerts()
	return Compose(sum, problems)
}

// Sender queues a digest once per day (alert.Notifier).
type Sender interface {
	Digest(date, subject, text string) bool
	LastDigest() string
}

// Schedule sends the digest every day at At (an offset from midnight in
// Location), once per day: a restart after At on a day whose digest went
// out does not send it again; one on a day whose digest did not (the
// aggregator was down at At) sends it then.
type Schedule struct {
	At       time.Duration
	Location *time.Location
	Source   Source
	Sender   Sender
	Now      func() time.Time
	// Every is how often Run looks (a minute when zero).
	Every  time.Duration
	Logger *slog.Logger
}

// Due says whether the digest of now's day is due and not yet sent, and
// that day (YYYY-MM-DD in Location).
func (s Schedule) Due(now time.Time) (day string, due bool) {
	local := now.In(s.Location)
	y, m, dd := local.Date()
	at := time.Date(y, m, dd, 0, 0, 0, 0, s.Location).Add(s.At)
	day = local.Format(time.DateOnly)
	return day, !local.Before(at) && s.Sender.LastDigest() < day
}

// Tick sends the digest when it is due; it reports whether it queued it.
func (s Schedule) Tick(now time.Time) bool {
	day, due := s.Due(now)
	if st := s.Source.LastSync(); !due || st.Syncs == 0 || st.LastSuccess.IsZero() {
		// Not before the bucket has been read once (this run, or the
		// snapshot's sync): an empty digest would say no branch reported.
		return false
	}
	m := Build(s.Source, time.Time{})
	return s.Sender.Digest(day, m.Subject, m.Text)
}

// Run ticks every minute (Every) until ctx ends (a minute's check is
// cheap, and follows clock changes and restarts without arithmetic on
// sleeps). Once a day it logs that the day's digest went out already when
// it finds so (a restart after DIGEST_TIME).
func (s Schedule) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	noted := ""
	for {
		now := s.Now()
		day := now.In(s.Location).Format(time.DateOnly)
		if s.Tick(now) {
			logger.Info("morning digest queued", "date", day)
			noted = day
		} else if day != noted && s.Sender.LastDigest() >= day {
			logger.Info("morning digest of today already sent; not again", "date", day)
			noted = day
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
