package doctor

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/branchwatch/branchwatch/agent/internal/options"
)

// timezone says which zone business dates and schedules follow.
func (c *checker) timezone() Result {
	loc := c.cfg.Options.Location
	if loc == nil {
		return fail(CheckTimezone, options.EnvTimezone, "no time zone")
	}
	now := c.cfg.Now().In(loc)
	return pass(CheckTimezone, options.EnvTimezone, "%s: it is now %s there (business date %s)",
		loc, now.Format("2006-01-02 15:04 MST (-07:00)"), now.Format(time.DateOnly))
}

// schedules gives each schedule's next run in the branch's zone.
func (c *checker) schedules() []Result {
	o := c.cfg.Options
	now := c.cfg.Now().In(o.Location)
	var out []Result
	for _, s := range []struct{ setting, spec string }{
		{options.EnvSummarySchedule, o.SummarySchedule},
		{options.EnvBackupSchedule, o.BackupSchedule},
		{options.EnvCleanupSchedule, o.CleanupSchedule},
		{options.EnvVerifySchedule, o.VerifySchedule},
	} {
		if s.setting == options.EnvVerifySchedule && (s.spec == "" || c.cfg.Store == nil) {
			why := "off"
			if s.spec != "" {
				why = "no drills in local-only mode (they restore the bucket's copies)"
			}
			out = append(out, skip(CheckSchedule, s.setting, "%s", why))
			continue
		}
		sched, err := cron.ParseStandard(s.spec)
		if err != nil {
			out = append(out, fail(CheckSchedule, s.setting, "%q is not a cron expression: %v", s.spec, err))
			continue
		}
		next := sched.Next(now)
		out = append(out, pass(CheckSchedule, s.setting, "%q: next run %s", s.spec, next.Format("Mon 2006-01-02 15:04 MST")))
	}
	return out
}
