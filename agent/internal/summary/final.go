package summary

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/robfig/cron/v3"
)

// TimeOfDay is a wall-clock time in the branch's zone.
type TimeOfDay struct{ Hour, Minute int }

// DefaultFinalTime is the daily summary time of metrics-v1.md: 21:45.
var DefaultFinalTime = TimeOfDay{21, 45}

// String is "HH:MM".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// On is t on date's calendar day in loc.
func (t TimeOfDay) On(date time.Time, loc *time.Location) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, t.Hour, t.Minute, 0, 0, loc)
}

// FinalTimeFromSchedule is the daily summary time a SUMMARY_SCHEDULE cron
// expression implies: its latest hour and minute of the day ("45 21 * * *"
// gives 21:45; a schedule that runs several times a day is final after its
// last run). An expression that does not parse gives DefaultFinalTime
// (options.Load refuses those anyway).
func FinalTimeFromSchedule(spec string) TimeOfDay {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return DefaultFinalTime
	}
	s, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return DefaultFinalTime // "@every 1h": no time of day
	}
	const star = 1 << 63 // robfig/cron's marker for "*" in a field's bits
	hour, minute := s.Hour&^star, s.Minute&^star
	if hour == 0 || minute == 0 {
		return DefaultFinalTime
	}
	return TimeOfDay{Hour: 63 - bits.LeadingZeros64(hour), Minute: 63 - bits.LeadingZeros64(minute)}
}

// IsFinal reports whether a summary of date generated at `at` is final:
// the date is past in loc, or `at` is at or after the daily summary time.
func IsFinal(date, at time.Time, finalAt TimeOfDay, loc *time.Location) bool {
	today := Civil(at.In(loc))
	date = Civil(date)
	if date.Before(today) {
		return true
	}
	return date.Equal(today) && !at.Before(finalAt.On(date, loc))
}

// Civil is t's calendar date (as written, in t's own location) as UTC
// midnight: the agent's representation of a business date.
func Civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Today is the business date of now in loc.
func Today(now time.Time, loc *time.Location) time.Time { return Civil(now.In(loc)) }
