package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/branchwatch/branchwatch/agent/internal/bundler"
	"github.com/branchwatch/branchwatch/agent/internal/catchup"
	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/agent/internal/remote"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

func init() {
	Register(&Command{
		Name:    "summarize",
		Usage:   "agent summarize [--date YYYY-MM-DD] [--force]",
		Summary: "one day's summary (today by default), stored in the branch_agent schema and printed",
		NeedsDB: true,
		Flags: func(fs *flag.FlagSet) {
			fs.String("date", "", "business date YYYY-MM-DD (default: today in BRANCH_TIMEZONE)")
			fs.Bool("force", false, "recompute a final summary")
		},
		Run: runSummarize,
	})
	Register(&Command{
		Name:    "push-metrics",
		Usage:   "agent push-metrics [--date YYYY-MM-DD] [--force] [--retry-for D]",
		Summary: "one day's metrics document (summarizing first if needed), to the bucket or BACKUP_DIR/metrics",
		NeedsDB: true,
		Flags: func(fs *flag.FlagSet) {
			fs.String("date", "", "business date YYYY-MM-DD (default: today in BRANCH_TIMEZONE)")
			fs.Bool("force", false, "recompute a final summary before pushing")
			retryForFlag(fs)
		},
		Run: runPushMetrics,
	})
	Register(&Command{
		Name:    "catchup",
		Usage:   "agent catchup",
		Summary: "the start-up catch-ups, once: missing summaries, missing metrics documents, then missing monthly bundles of closed months",
		NeedsDB: true,
		Run:     runCatchup,
	})
	Register(&Command{
		Name:    "demo-data",
		Usage:   "agent demo-data --days N --seed S [--end YYYY-MM-DD] [--bills-per-day B]",
		Summary: "fill the reference schema with realistic demo data",
		NeedsDB: true,
		Flags: func(fs *flag.FlagSet) {
			fs.Int("days", 120, "business dates to fill, ending with --end")
			fs.Int64("seed", 1, "the same seed and end date give the same data")
			fs.String("end", "", "last business date YYYY-MM-DD (default: yesterday in BRANCH_TIMEZONE)")
			fs.Int("bills-per-day", demodata.DefaultBillsPerDay, "mean bills on a plain weekday (weekends get more); the branch's size: rent and staff salaries, paid on the 1st, scale with it")
		},
		Run: runDemoData,
	})
}

// metricsKit is what the metrics commands and the daemon share.
type metricsKit struct {
	pool *pgxpool.Pool
	st   store.Store // nil: local-only
	sum  *summary.Summarizer
	pub  *push.Publisher
	// instance is this agent's instance id (BACKUP_DIR/.instance-id).
	instance string
}

// instanceID is this agent's instance id: the host name and the install
// id kept in BACKUP_DIR (created on first use). Without one (BACKUP_DIR
// not writable yet, a garbled file) the agent still runs, says so as an
// error, and writes no instance id: the doctor's checks and the backups
// report an unusable BACKUP_DIR themselves.
func instanceID(env *Env) string {
	id, err := instance.Load(env.Opts.BackupDir, instance.Hostname())
	if err != nil {
		env.Logger.Error("no instance id: a second agent with this BRANCH_ID will not be noticed",
			"setting", options.EnvBackupDir, "err", err)
		return ""
	}
	return id
}

func (k *metricsKit) close() { k.pool.Close() }

// bundler writes the branch's monthly bundles; nil in local-only mode
// (bundles only speed up an aggregator's cold start).
func (k *metricsKit) bundler(o options.Options, logger *slog.Logger, now func() time.Time) *bundler.Writer {
	if k.st == nil {
		return nil
	}
	return &bundler.Writer{Branch: o.BranchID, Store: k.st, Location: o.Location, Now: now, Logger: logger}
}

// openPool connects lazily: an unreachable database fails the first query,
// not start-up (the daemon must start and catch up later).
func openPool(o options.Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid PostgreSQL connection URL", options.EnvDatabaseURL) // the error may quote the URL
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = "branchwatch-agent"
	cfg.ConnConfig.ConnectTimeout = 15 * time.Second
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// openMetrics opens the database pool, the bucket and the summary and push
// sides; now is the clock of business dates (time.Now when nil).
func openMetrics(env *Env, now func() time.Time) (*metricsKit, error) {
	o := env.Opts
	cfg := summary.Config{
		BranchID: o.BranchID, BranchName: o.BranchName, Location: o.Location,
		FinalAt: summary.FinalTimeFromSchedule(o.SummarySchedule), Now: now,
	}
	if o.MetricsQueryFile != "" {
		q, err := summary.LoadQueryFile(o.MetricsQueryFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", options.EnvMetricsQueryFile, err)
		}
		cfg.Query = q
	}
	st, err := remote.Open(o)
	if err != nil {
		return nil, err
	}
	pub, err := push.New(o.BranchID, st, o.BackupDir, env.Logger)
	if err != nil {
		return nil, err
	}
	id := instanceID(env)
	pub.Instance, pub.Now = id, now
	pool, err := openPool(o)
	if err != nil {
		return nil, err
	}
	sum, err := summary.New(pool, cfg, env.Logger)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &metricsKit{pool: pool, st: st, sum: sum, pub: pub, instance: id}, nil
}

// dateFlag reads a YYYY-MM-DD flag; "" is def.
func dateFlag(fs *flag.FlagSet, name string, def time.Time) (time.Time, error) {
	v := strings.TrimSpace(fs.Lookup(name).Value.String())
	if v == "" {
		return def, nil
	}
	d, err := layout.ParseDate(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s %q is not a date (YYYY-MM-DD)", ErrUsage, name, v)
	}
	return d, nil
}

func boolFlag(fs *flag.FlagSet, name string) bool {
	return fs.Lookup(name).Value.String() == "true"
}

func runSummarize(env *Env, fs *flag.FlagSet) error {
	k, err := openMetrics(env, env.Now)
	if err != nil {
		return err
	}
	defer k.close()
	date, err := dateFlag(fs, "date", k.sum.Today())
	if err != nil {
		return err
	}
	out, err := k.sum.Summarize(env.Ctx, date, boolFlag(fs, "force"))
	if err != nil {
		return err
	}
	if !out.Computed {
		env.Logger.Info("a final summary is stored: shown as it is (--force recomputes it)", "date", out.Document.SummaryDate)
	}
	return out.Document.Encode(env.Stdout)
}

func runPushMetrics(env *Env, fs *flag.FlagSet) error {
	k, err := openMetrics(env, env.Now)
	if err != nil {
		return err
	}
	defer k.close()
	date, err := dateFlag(fs, "date", k.sum.Today())
	if err != nil {
		return err
	}
	ctx, rt, finish, err := oneShotJob(env, fs)
	if err != nil {
		return err
	}
	var doc metrics.Document
	var where string
	err = finish(rt.Do(ctx, "push-metrics", func(ctx context.Context) (err error) {
		doc, where, err = k.pub.PushDate(ctx, k.sum, date, boolFlag(fs, "force"))
		return err
	}))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "metrics of %s (is_final %v) pushed to %s\n", doc.SummaryDate, doc.IsFinal, where)
	return nil
}

func runCatchup(env *Env, _ *flag.FlagSet) error {
	k, err := openMetrics(env, env.Now)
	if err != nil {
		return err
	}
	defer k.close()
	sums, pushes, err := catchup.Run(env.Ctx, k.sum, k.pub, env.Opts.SummaryCatchupDays, env.Opts.MetricsCatchupDays, env.Logger)
	fmt.Fprintf(env.Stdout, "summaries: %d computed, %d failed; metrics: %d pushed, %d failed\n",
		len(sums.Done), len(sums.Failed), len(pushes.Done), len(pushes.Failed))
	if b := k.bundler(env.Opts, env.Logger, env.Now); b != nil && env.Ctx.Err() == nil {
		res, berr := b.Run(env.Ctx)
		fmt.Fprintf(env.Stdout, "monthly bundles: %d written, %d failed\n", len(res.Written), len(res.Failed))
		err = errors.Join(err, berr)
	}
	return err
}

func runDemoData(env *Env, fs *flag.FlagSet) error {
	o := env.Opts
	days, _ := fs.Lookup("days").Value.(flag.Getter).Get().(int)
	seed, _ := fs.Lookup("seed").Value.(flag.Getter).Get().(int64)
	perDay, _ := fs.Lookup("bills-per-day").Value.(flag.Getter).Get().(int)
	if days < 1 {
		return fmt.Errorf("%w: --days must be at least 1", ErrUsage)
	}
	if perDay < 1 {
		return fmt.Errorf("%w: --bills-per-day must be at least 1", ErrUsage)
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	end, err := dateFlag(fs, "end", summary.Today(now(), o.Location).AddDate(0, 0, -1))
	if err != nil {
		return err
	}
	pool, err := openPool(o)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := demodata.Generate(env.Ctx, pool, demodata.Options{Days: days, Seed: seed, End: end, Location: o.Location, BillsPerDay: perDay})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "demo data %s to %s: %d bills, %d items, %d payments, %d refunds, %d expenses\n",
		res.From.Format(time.DateOnly), res.To.Format(time.DateOnly), res.Bills, res.Items, res.Payments, res.Refunds, res.Expenses)
	return nil
}
