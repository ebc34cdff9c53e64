package doctor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// RecheckInterval is how often the checks run again while one fails.
const RecheckInterval = 5 * time.Minute

// Effect is what a failing check does to one job.
type Effect struct {
	Job string
	// Blocks: the job is not run at all while the check fails (it could
	// only fail); otherwise it runs and its own failure counts as missed.
	Blocks bool
}

// Watch runs the checks at start, again every Interval while one fails
// and after a job failed, and keeps the outcome for /healthz. A job that
// could not run or failed while a check that concerns it failed is
// missed; it is run again once those checks pass.
type Watch struct {
	// Check runs every check once (Run with a Config, in production).
	Check func(ctx context.Context) []Result
	// Effects maps a Check* identifier to the jobs it concerns.
	Effects map[string][]Effect
	Clock   clockwork.Clock
	// Interval is RecheckInterval when 0.
	Interval time.Duration
	Logger   *slog.Logger
	// Fail reports a newly failing check to a job's monitor (a
	// healthchecks /fail ping). Optional.
	Fail func(ctx context.Context, job, reason string)
	// Rerun runs a missed job now.
	Rerun func(job string) error
	// OnRound, when set, is called after each round (tests).
	OnRound func(failing []Result)

	once    sync.Once
	first   chan struct{} // closed after the first round
	kick    chan struct{}
	mu      sync.Mutex
	failing []Result
	missed  []string
}

func (w *Watch) init() {
	w.once.Do(func() {
		w.first = make(chan struct{})
		w.kick = make(chan struct{}, 1)
		if w.Interval == 0 {
			w.Interval = RecheckInterval
		}
		if w.Clock == nil {
			w.Clock = clockwork.NewRealClock()
		}
		if w.Logger == nil {
			w.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Run checks at once, then every Interval while a check fails, until ctx
// ends. While all pass it waits for a job failure (JobFailed).
func (w *Watch) Run(ctx context.Context) {
	w.init()
	w.round(ctx)
	close(w.first)
	for {
		if w.Failing() != nil {
			select {
			case <-w.Clock.After(w.Interval):
				w.round(ctx)
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case <-w.kick: // a job failed and its round found a failing check
		case <-ctx.Done():
			return
		}
	}
}

// Failing are the checks that failed in the last round.
func (w *Watch) Failing() []Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.failing)
}

// Problems are the failing checks as "SETTING: reason" (the daemon's
// health source).
func (w *Watch) Problems() []string {
	var out []string
	for _, r := range w.Failing() {
		out = append(out, r.Problem())
	}
	return out
}

// Gate is called at the start of job's run: it waits for the first round,
// and when a failing check blocks job it records job as missed and says
// why it does not run.
func (w *Watch) Gate(ctx context.Context, job string) error {
	w.init()
	select {
	case <-w.first:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.failing {
		for _, e := range w.Effects[r.Check] {
			if e.Job == job && e.Blocks {
				w.miss(job)
				return fmt.Errorf("not run while a check fails (it runs once the setting is fixed): %s", r.Problem())
			}
		}
	}
	return nil
}

// JobFailed runs the checks again after job failed; when a failing check
// concerns job, job is missed and the checks go on every Interval.
func (w *Watch) JobFailed(ctx context.Context, job string) {
	w.init()
	select {
	case <-w.first:
	case <-ctx.Done():
		return
	}
	if w.round(ctx) == nil {
		return
	}
	w.mu.Lock()
	for _, r := range w.failing {
		for _, e := range w.Effects[r.Check] {
			if e.Job == job {
				w.miss(job)
			}
		}
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Watch) miss(job string) { // w.mu held
	if !slices.Contains(w.missed, job) {
		w.missed = append(w.missed, job)
	}
}

// round runs the checks, records and reports the outcome, and reruns the
// missed jobs no failing check concerns any more. It returns the failing
// checks.
func (w *Watch) round(ctx context.Context) []Result {
	results := w.Check(ctx)
	if ctx.Err() != nil {
		return w.Failing() // a stopping agent decides nothing
	}
	failing := Failed(results)
	w.mu.Lock()
	before := map[string]bool{}
	for _, r := range w.failing {
		before[r.Check] = true
	}
	w.failing = failing
	concerned := map[string]bool{}
	for _, r := range failing {
		for _, e := range w.Effects[r.Check] {
			concerned[e.Job] = true
		}
	}
	var rerun []string
	w.missed = slices.DeleteFunc(w.missed, func(job string) bool {
		if concerned[job] {
			return false
		}
		rerun = append(rerun, job)
		return true
	})
	w.mu.Unlock()

	pinged := map[string]bool{}
	for _, r := range failing {
		w.Logger.Error(r.Problem(), "check", r.Check, "setting", r.Setting, "recheck_in", w.Interval.String())
		if before[r.Check] || w.Fail == nil {
			continue
		}
		for _, e := range w.Effects[r.Check] {
			if !pinged[e.Job] {
				pinged[e.Job] = true
				w.Fail(ctx, e.Job, r.Problem())
			}
		}
	}
	if len(failing) == 0 && len(before) > 0 {
		w.Logger.Info("every check passes again")
	}
	if len(rerun) > 0 {
		w.Logger.Info("running the jobs missed while a check failed", "jobs", strings.Join(rerun, ","))
	}
	for _, job := range rerun {
		if err := w.Rerun(job); err != nil {
			w.Logger.Error("could not run a missed job", "job", job, "err", err)
		}
	}
	if w.OnRound != nil {
		w.OnRound(failing)
	}
	return failing
}
