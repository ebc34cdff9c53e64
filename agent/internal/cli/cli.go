// Package cli is the agent's command line: one binary, subcommands. Each
// command lives in its own file and registers itself in init, so that main
// only turns signals into a context and calls Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/dburl"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/simclock"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/simtime"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Version is the agent's version, set at build time with
// -ldflags "-X github.com/branchwatch/branchwatch/agent/internal/cli.Version=..."
var Version = "dev"

// Env is what a command runs with.
type Env struct {
	Ctx    context.Context
	Stdout io.Writer
	Stderr io.Writer
	Lookup config.Lookup
	Logger *slog.Logger
	// Opts is loaded from the environment (and flags overriding it) before
	// Run, when the command's NeedsOptions is set.
	Opts options.Options
	// Now is the commands' clock: time.Now, unless FakeNowVariable is set.
	Now func() time.Time
	// Sim is the simulated clock behind Now (nil: the real one); `agent
	// run` schedules and waits on it.
	Sim *simclock.Clock
	// Redact removes DATABASE_URL's password from any message that leaves
	// the process by another way than Logger and the final error line
	// (which already pass through it).
	Redact dburl.Redactor
}

// FakeNowVariable, when set to an RFC 3339 time, makes the commands' clock
// start at that time (it then advances with the real one). It exists so
// that a simulation can drive the agent through many nights in minutes
// (dump names, is_final, catch-up windows and retention all follow it);
// it is not a setting for production, and the agent warns when it is set.
const FakeNowVariable = "BRANCHWATCH_FAKE_NOW"

// ClockRateVariable, with FakeNowVariable, makes the simulated clock run
// that many simulated seconds per real second, its timers and waits
// scaled alike (and the bucket client's retry backoff divided by its
// slowest rate), so that `agent run` lives a night in seconds. Daily
// windows may run slower ("7200,21:00-01:30=900": package
// shared/simtime), so that the night's work stays short in simulated
// time. Test-only, warned about like FakeNowVariable.
const ClockRateVariable = "BRANCHWATCH_CLOCK_RATE"

// clockFrom is nil (time.Now), or a simulated clock starting at
// FakeNowVariable's time and running at ClockRateVariable's rates (1 when
// unset).
func clockFrom(lookup config.Lookup) (*simclock.Clock, error) {
	if lookup == nil {
		return nil, nil
	}
	v, _ := lookup(FakeNowVariable)
	r, _ := lookup(ClockRateVariable)
	v, r = strings.TrimSpace(v), strings.TrimSpace(r)
	if v == "" {
		if r != "" {
			return nil, fmt.Errorf("%s needs %s (the simulated clock's start)", ClockRateVariable, FakeNowVariable)
		}
		return nil, nil
	}
	start, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not an RFC 3339 time", FakeNowVariable, v)
	}
	spec := simtime.Spec{Rate: 1}
	if r != "" {
		if spec, err = simtime.Parse(r); err != nil {
			return nil, fmt.Errorf("%s: %w", ClockRateVariable, err)
		}
	}
	return simclock.NewSpec(start, spec), nil
}

// scaleBackoff divides the bucket client's retry backoff by the clock's
// slowest rate (the busy hours' one), so that its 1 s to 30 s waits last
// as many simulated seconds there.
func scaleBackoff(o *store.S3Options, c *simclock.Clock) {
	rate := c.Rate()
	if rate == 1 {
		return
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = store.DefaultS3BackoffBase
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = store.DefaultS3MaxBackoff
	}
	scale := func(d time.Duration) time.Duration { return max(time.Duration(float64(d)/rate), 1) }
	o.BackoffBase, o.MaxBackoff = scale(o.BackoffBase), scale(o.MaxBackoff)
}

// Command is one subcommand.
type Command struct {
	Name    string
	Usage   string // e.g. "agent restore [--key K | --latest] --target-url URL [--yes]"
	Summary string // one line for `agent help`
	Help    string // optional paragraphs for `agent help <command>` and --help
	// NeedsDB says DATABASE_URL is required.
	NeedsDB bool
	// Flags declares the command's flags on fs; Run receives fs parsed.
	Flags func(fs *flag.FlagSet)
	Run   func(env *Env, fs *flag.FlagSet) error
}

var commands = map[string]*Command{}

// Register adds a command; called from init in each command's file.
func Register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

// ErrUsage marks a command-line mistake (exit status 2).
var ErrUsage = errors.New("usage")

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup config.Lookup) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fs := newFlagSet(c, stderr)
				fs.SetOutput(stdout)
				fs.Usage()
				return 0
			}
		}
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "branchwatch agent", Version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "agent: unknown command %q (agent help lists them)\n", args[0])
		return 2
	}
	fs := newFlagSet(c, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	r := config.NewReader(lookup)
	fs.Visit(func(f *flag.Flag) {
		if env := flagEnv[f.Name]; env != "" {
			r.Override(env, f.Value.String())
		}
	})
	// One redaction of DATABASE_URL's password for everything this
	// process writes: the error line below and every log record.
	red := dburl.NewRedactor(r.String(options.EnvDatabaseURL, ""))
	opts, err := options.Load(r, c.NeedsDB)
	if err != nil {
		fmt.Fprintf(stderr, "agent %s: %v\n", c.Name, red.Error(err))
		return 2
	}
	logger := slog.New(dburl.NewHandler(NewLogger(stderr, opts.LogLevel).Handler(), red)).With("branch", opts.BranchID)
	// The bucket client logs its retries, and the SDK's full error text
	// (request and host ids) at debug level only.
	opts.S3.Logger = logger.With("component", "s3")
	sim, err := clockFrom(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "agent %s: %v\n", c.Name, err)
		return 2
	}
	now := time.Now
	if sim != nil {
		now = sim.Now
		scaleBackoff(&opts.S3, sim)
		logger.Warn("the clock is simulated: "+FakeNowVariable+" is set (for tests and simulations only)",
			"now", now().Format(time.RFC3339), "rate", sim.Spec().String())
	}
	env := &Env{Ctx: ctx, Stdout: stdout, Stderr: stderr, Lookup: lookup, Logger: logger, Opts: opts, Now: now, Sim: sim, Redact: red}
	if err := red.Error(c.Run(env, fs)); err != nil {
		if errors.Is(err, ErrUsage) {
			fmt.Fprintf(stderr, "agent %s: %v\nusage: %s\n", c.Name, err, c.Usage)
			return 2
		}
		fmt.Fprintf(stderr, "agent %s: %s\n", c.Name, oneLine(err))
		return 1
	}
	return 0
}

// flagEnv maps the global flags to the variables they override.
var flagEnv = map[string]string{
	"branch-id":  options.EnvBranchID,
	"backup-dir": options.EnvBackupDir,
	"timezone":   options.EnvTimezone,
	"log-level":  options.EnvLogLevel,
}

func newFlagSet(c *Command, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("agent "+c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("branch-id", "", "branch id (overrides BRANCH_ID)")
	fs.String("backup-dir", "", "local backup directory (overrides BACKUP_DIR)")
	fs.String("timezone", "", "branch time zone (overrides BRANCH_TIMEZONE)")
	fs.String("log-level", "", "debug, info, warn or error (overrides LOG_LEVEL)")
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: %s\n\n%s\n", c.Usage, c.Summary)
		if c.Help != "" {
			fmt.Fprintf(out, "\n%s\n", c.Help)
		}
		fmt.Fprintf(out, "\nSettings come from the environment (see the README's configuration table);\nDATABASE_URL is never taken as a flag so that its password stays off command lines.\n\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "agent: the Branchwatch branch agent (backups and daily metrics)")
	fmt.Fprintln(w, "\nusage: agent <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].Summary)
	}
	fmt.Fprintln(w, "  help [command] this list, or one command's flags")
	fmt.Fprintln(w, "  version        print the version")
	fmt.Fprintln(w, "\nSettings are environment variables (DATABASE_URL, BRANCH_ID, BACKUP_S3_*, ...): see the README.")
}

// NewLogger is the JSON slog logger every command logs through.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

// Stdin is the process's standard input (replaced in tests).
var Stdin io.Reader = os.Stdin
