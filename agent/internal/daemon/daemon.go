// Package daemon runs the agent's jobs: cron schedules in the branch's time
// zone (gocron v2, each job in singleton mode so that it never overlaps
// itself), one-off start-up jobs (the catch-ups), bounded retries with
// backoff, a Prometheus /metrics and /healthz endpoint, dead-man's-switch
// pings in the healthchecks.io convention, a lock so that two daemons never
// share one BACKUP_DIR, and a graceful stop when the context ends.
//
// The daemon knows nothing of backups or metrics: each job is a Task
// supplied by the caller.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/branchwatch/branchwatch/agent/internal/dirlock"
	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
)

// LockName is the daemon's lock file in the lock directory (BACKUP_DIR).
const LockName = ".agent.lock"

// DefaultStopTimeout bounds how long a stop waits for running jobs after
// cancelling them.
const DefaultStopTimeout = 30 * time.Second

// Outcome is what one successful run produced.
type Outcome struct {
	Size int64 // bytes (the dump, the metrics document); 0 when meaningless
}

// Task is a job's work. It must return soon after ctx ends.
type Task func(ctx context.Context) (Outcome, error)

// Job is one unit of work.
type Job struct {
	Name string
	// Schedule is a five-field cron expression in Config.Location; "" makes
	// a start-up job, run once when the daemon starts.
	Schedule string
	Task     Task
	// Retry is how a failed run is tried again (jobretry.Policy; For 0:
	// not at all). Permanent errors (jobretry.Permanent) are not retried.
	Retry jobretry.Policy
	// RetriesInside says the task retries its own steps, with the
	// jobretry.Retrier the daemon puts in its context (the backup retries
	// its upload, never its dump); otherwise the daemon retries the
	// whole task.
	RetriesInside bool
	// PingURL is a healthchecks.io check URL: the daemon requests
	// <url>/start, then <url> or <url>/fail. "" disables.
	PingURL string
	// Lane: jobs of one lane never run at the same time (the summary job
	// waits for the start-up catch-up). "" is a lane of its own.
	Lane string
}

// Config is the daemon's setup.
type Config struct {
	Location *time.Location
	Jobs     []Job
	// Listen is the address of /healthz and /metrics ("127.0.0.1:9187",
	// ":0" in tests); "" serves nothing.
	Listen string
	// LockDir holds LockName; "" takes no lock.
	LockDir     string
	Clock       clockwork.Clock // the real clock when nil
	HTTPClient  *http.Client    // for pings; a 10 s timeout client when nil
	StopTimeout time.Duration   // DefaultStopTimeout when 0
	// JobTimeout is the deadline of one run, retries included (JOB_TIMEOUT);
	// a run that overruns is cancelled and counts as failed. 0: none.
	JobTimeout time.Duration
	// OnRunDone, when set, is called after each run is recorded (tests
	// wait on it rather than sleep).
	OnRunDone func(job string, err error)
	// Collectors are further series served on /metrics beside the jobs'.
	Collectors []prometheus.Collector
	// Health, when set, decides /healthz: 200 while it reports no
	// problem, 503 naming each one otherwise. nil: always 200.
	Health Health
}

// Health is what /healthz consults.
type Health interface {
	// Problems are the current problems, each "SETTING: reason"; none
	// means healthy.
	Problems() []string
}

// Daemon is a configured, not yet running, set of jobs.
type Daemon struct {
	cfg     Config
	logger  *slog.Logger
	clock   clockwork.Clock
	sched   gocron.Scheduler
	jobs    map[string]gocron.Job
	startup []*Job
	metrics *jobMetrics
	lanes   map[string]chan struct{}

	mu       sync.Mutex
	listener net.Listener
	ready    chan struct{}
	jobCtx   context.Context // the running jobs' context, once Run started
	extra    sync.WaitGroup  // start-up jobs run again by RunNow
}

// New checks cfg and sets the jobs up; nothing runs before Run.
func New(cfg Config, logger *slog.Logger) (*Daemon, error) {
	if cfg.Location == nil {
		return nil, errors.New("daemon: no time zone")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	d := &Daemon{
		cfg: cfg, logger: logger.With("component", "daemon"), clock: cfg.Clock,
		jobs: map[string]gocron.Job{}, metrics: newJobMetrics(), lanes: map[string]chan struct{}{},
		ready: make(chan struct{}),
	}
	for _, c := range cfg.Collectors {
		if err := d.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("daemon: metrics: %w", err)
		}
	}
	sched, err := gocron.NewScheduler(
		gocron.WithLocation(cfg.Location),
		gocron.WithClock(cfg.Clock),
		gocron.WithLogger(logger.With("component", "scheduler")),
		gocron.WithStopTimeout(cfg.StopTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.sched = sched
	seen := map[string]bool{}
	for i := range cfg.Jobs {
		j := &cfg.Jobs[i]
		if j.Name == "" || seen[j.Name] || j.Task == nil {
			_ = sched.Shutdown()
			return nil, fmt.Errorf("daemon: job %d: a unique name and a task are required", i)
		}
		seen[j.Name] = true
		d.metrics.declare(j.Name)
		if j.Lane != "" && d.lanes[j.Lane] == nil {
			d.lanes[j.Lane] = make(chan struct{}, 1)
		}
		if j.Schedule == "" {
			d.startup = append(d.startup, j)
			continue
		}
		gj, err := sched.NewJob(gocron.CronJob(j.Schedule, false),
			gocron.NewTask(func(ctx context.Context) { _ = d.run(ctx, j) }),
			gocron.WithName(j.Name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule))
		if err != nil {
			_ = sched.Shutdown()
			return nil, fmt.Errorf("daemon: job %s: schedule %q: %w", j.Name, j.Schedule, err)
		}
		d.jobs[j.Name] = gj
	}
	return d, nil
}

// NextRun is when a scheduled job runs next (known once Run has started).
func (d *Daemon) NextRun(job string) (time.Time, error) {
	j, ok := d.jobs[job]
	if !ok {
		return time.Time{}, fmt.Errorf("no scheduled job %q", job)
	}
	return j.NextRun()
}

// Ready is closed once Run has taken the lock, is listening and has
// started the scheduler.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Addr is the address /metrics and /healthz listen on, once Ready.
func (d *Daemon) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.listener == nil {
		return ""
	}
	return d.listener.Addr().String()
}

// Run takes the lock, serves /healthz and /metrics, starts the schedules,
// runs the start-up jobs, and blocks until ctx ends; then it stops:
// running jobs are cancelled (their context ends) and awaited up to
// StopTimeout, the server closes, the lock is released.
func (d *Daemon) Run(ctx context.Context) error {
	if d.cfg.LockDir != "" {
		lock, err := dirlock.Acquire(d.cfg.LockDir, LockName, "agent run")
		if err != nil {
			_ = d.sched.Shutdown()
			if errors.Is(err, dirlock.ErrLocked) {
				return fmt.Errorf("another agent uses %s: %w", d.cfg.LockDir, err)
			}
			return err
		}
		defer func() { _ = lock.Release() }()
	}
	var srv *http.Server
	if d.cfg.Listen != "" {
		l, err := net.Listen("tcp", d.cfg.Listen)
		if err != nil {
			_ = d.sched.Shutdown()
			return fmt.Errorf("listen on %s (AGENT_LISTEN): %w", d.cfg.Listen, err)
		}
		d.mu.Lock()
		d.listener = l
		d.mu.Unlock()
		// /healthz and /metrics take no body: a client that has not sent
		// its whole request within 10 s (a slow one, holding connections
		// open) is cut off, and an idle one after a minute.
		srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.logger.Error("metrics server stopped", "err", err)
			}
		}()
		d.logger.Info("serving /healthz and /metrics", "addr", l.Addr().String())
	}

	jobCtx, cancelJobs := context.WithCancel(ctx)
	defer cancelJobs()
	d.mu.Lock()
	d.jobCtx = jobCtx
	d.mu.Unlock()
	d.sched.Start()
	d.updateNextRuns()
	for name := range d.jobs {
		next, _ := d.NextRun(name)
		d.logger.Info("job scheduled", "job", name, "next_run", next.In(d.cfg.Location).Format(time.RFC3339))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, j := range d.startup {
			if jobCtx.Err() != nil {
				return
			}
			_ = d.run(jobCtx, j)
		}
	})
	close(d.ready)

	<-ctx.Done()
	d.logger.Info("stopping: cancelling running jobs", "timeout", d.cfg.StopTimeout.String())
	cancelJobs()
	var errs []error
	if err := d.sched.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("stop scheduler: %w", err))
	}
	wg.Wait()
	d.extra.Wait()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics server: %w", err))
		}
	}
	d.logger.Info("stopped")
	return errors.Join(errs...)
}

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var problems []string
		if d.cfg.Health != nil {
			problems = d.cfg.Health.Problems()
		}
		if len(problems) == 0 {
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
			return
		}
		body, _ := json.Marshal(struct {
			Status   string   `json:"status"`
			Problems []string `json:"problems"`
		}{"failing", problems})
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
}

// RunNow runs job once, now, as its schedule would (lane, retries, pings,
// metrics); a start-up job runs again. It needs Run to have started.
func (d *Daemon) RunNow(job string) error {
	if gj, ok := d.jobs[job]; ok {
		return gj.RunNow()
	}
	d.mu.Lock()
	ctx := d.jobCtx
	d.mu.Unlock()
	for _, j := range d.startup {
		if j.Name != job {
			continue
		}
		if ctx == nil || ctx.Err() != nil {
			return fmt.Errorf("run %s: the daemon is not running", job)
		}
		d.extra.Go(func() { _ = d.run(ctx, j) })
		return nil
	}
	return fmt.Errorf("run %s: no such job", job)
}

// PingFail sends job's healthchecks URL a /fail ping with reason, outside
// a run (a setting the job needs is broken). No URL: nothing.
func (d *Daemon) PingFail(ctx context.Context, job, reason string) {
	for i := range d.cfg.Jobs {
		if d.cfg.Jobs[i].Name == job {
			d.ping(ctx, &d.cfg.Jobs[i], "/fail", reason)
		}
	}
}

// updateNextRuns refreshes the next-run gauges.
func (d *Daemon) updateNextRuns() {
	for name, j := range d.jobs {
		if next, err := j.NextRun(); err == nil && !next.IsZero() {
			d.metrics.nextRun.WithLabelValues(name).Set(float64(next.Unix()))
		}
	}
}
