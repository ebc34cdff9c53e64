package freshness

import (
	"fmt"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// CheckFutureDated is the check that a branch holds nothing dated more
// than index.FutureSlack past the aggregator's clock.
const CheckFutureDated = "future-dated"

// FutureCheck judges the future-dated check from what index.Branch.Present
// split off: down while anything is dated ahead (since the earliest such
// object was written), up otherwise. The metrics and backup checks are
// judged without those objects.
func FutureCheck(f index.Future, loc *time.Location, now time.Time) Check {
	c := Check{Name: CheckFutureDated, State: Up, Reason: "nothing is dated ahead of the aggregator's clock"}
	n := f.Len()
	if n == 0 {
		return c
	}
	var latest, example string
	var since time.Time
	seen := func(key, date string, modified time.Time) {
		if latest == "" || date > latest {
			latest, example = date, key
		}
		if !modified.IsZero() && (since.IsZero() || modified.Before(since)) {
			since = modified
		}
	}
	for _, d := range f.Docs {
		key, _ := layout.MetricsKey(d.BranchID, mustDate(d.SummaryDate))
		seen(key, d.SummaryDate, time.Time{})
	}
	for _, b := range f.Bad {
		seen(b.Key, b.Date, b.LastModified)
	}
	for _, b := range f.Backups {
		seen(b.Key, b.Taken(loc).Format("2006-01-02 15:04"), b.LastModified)
	}
	c.State, c.Since = Down, since
	c.Reason = fmt.Sprintf("%d %s dated more than %s past the aggregator's clock (now %s), the latest %s dated %s: "+
		"the branch's clock is probably wrong; ignored by the metrics and backup checks",
		n, plural(n, "object", "objects"), durationWords(index.FutureSlack), stamp(now, loc), example, latest)
	return c
}

// mustDate reads a validated YYYY-MM-DD (zero time if it is not one).
func mustDate(s string) time.Time {
	t, _ := layout.ParseDate(s)
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func durationWords(d time.Duration) string {
	if d == 24*time.Hour {
		return "one day"
	}
	return d.String()
}
