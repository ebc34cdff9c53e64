package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/api"
	"github.com/branchwatch/branchwatch/aggregator/internal/csvexport"
	"github.com/branchwatch/branchwatch/aggregator/internal/digest"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
var Version = "dev"

// settingFlags are the flags that stand in for environment variables
// (never the secrets: those stay off command lines).
var settingFlags = []struct {
	flag, env, usage string
	cmds             []string // the commands that use the setting
}{
	{"listen", options.EnvListen, "address to serve on", []string{"serve"}},
	{"data-dir", options.EnvDataDir, "directory of the index snapshot and alert history", []string{"serve", "export", "digest"}},
	{"bucket-dir", options.EnvBucketDir, "read a local copy of the bucket instead of S3", []string{"serve", "export", "digest"}},
	{"refresh-interval", options.EnvRefreshInterval, "how often the bucket is re-read (e.g. 5m)", []string{"serve"}},
	{"timezone", options.EnvTimezone, "zone of branches without documents", []string{"serve", "digest"}},
	{"expected-branches", options.EnvExpected, "comma-separated branch ids that must report, each optionally id:tag+tag", []string{"serve", "digest"}},
	{"log-level", options.EnvLogLevel, "debug, info, warn or error", []string{"serve", "export", "test-alert", "digest"}},
}

const usage = `aggregator: the Branchwatch central service (every branch from one bucket)

usage: aggregator <command> [flags]

commands:
  serve     serve the dashboard, /api/v1, /export.csv, /metrics and /healthz,
            refreshing from the bucket every AGGREGATOR_REFRESH_INTERVAL
  export    write metrics as CSV to standard output:
            aggregator export --from YYYY-MM-DD --to YYYY-MM-DD [--branch ID] [--units rupees]
  digest    print the morning digest (what DIGEST_TIME sends) to standard output:
            aggregator digest [--date YYYY-MM-DD]
  test-alert     send one test message to every configured alert channel
                 (email, Telegram, webhook), print each channel's result;
                 exits 1 if any failed
  hash-password  read a password (from the terminal without echo, or from
                 standard input) and print its bcrypt hash for
                 DASHBOARD_PASSWORD_BCRYPT
  help      this text; "aggregator help <command>" lists a command's flags
  version   print the version

Settings are environment variables (BACKUP_S3_*, AGGREGATOR_*, EXPECTED_BRANCHES,
ALERT_WEBHOOK_URL, ALERT_SMTP_URL, ALERT_TELEGRAM_*, DASHBOARD_USER, DASHBOARD_PASSWORD_BCRYPT, DASHBOARD_TOKEN, ...):
see the README's configuration table. Secrets are never taken as flags.
`

// Main runs the command line and returns the exit status. routes make
// extra HTTP routes for serve (the dashboard).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup config.Lookup, routes ...RouteBuilder) int {
	return MainInput(ctx, args, os.Stdin, stdout, stderr, lookup, routes...)
}

// MainInput is Main reading standard input from stdin (hash-password).
func MainInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup config.Lookup, routes ...RouteBuilder) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 && slices.Contains(commands, rest[0]) {
			fs, _ := flags(rest[0], stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "branchwatch aggregator", Version)
		return 0
	case "serve", "export", "test-alert", "hash-password", "digest":
	default:
		fmt.Fprintf(stderr, "aggregator: unknown command %q (aggregator help lists them)\n", cmd)
		return 2
	}
	fs, ex := flags(cmd, stderr)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "aggregator %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	if cmd == "hash-password" {
		return hashPassword(stdin, stdout, stderr, *ex.cost)
	}
	r := config.NewReader(lookup)
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settingFlags {
			if s.flag == f.Name {
				r.Override(s.env, f.Value.String())
			}
		}
	})
	o, err := options.Load(r, options.Need{Bucket: cmd != "test-alert", Auth: cmd == "serve"})
	if err != nil {
		fmt.Fprintf(stderr, "aggregator %s: %v\n", cmd, err)
		return 2
	}
	logger := NewLogger(stderr, o.LogLevel)
	if cmd == "test-alert" {
		return testAlert(ctx, o, stdout, stderr)
	}
	if cmd == "serve" {
		a, err := Build(o, Config{Logger: logger, Routes: routes})
		if err == nil {
			err = a.Run(ctx, nil)
		}
		if err != nil {
			fmt.Fprintf(stderr, "aggregator serve: %s\n", oneLine(err))
			return 1
		}
		return 0
	}
	if cmd == "digest" {
		if err := runDigest(ctx, o, logger, ex, stdout, stderr); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				fmt.Fprintf(stderr, "aggregator digest: %v\n", err)
				return 2
			}
			fmt.Fprintf(stderr, "aggregator digest: %s\n", oneLine(err))
			return 1
		}
		return 0
	}
	if err := runExport(ctx, o, logger, ex, stdout, stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "aggregator export: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "aggregator export: %s\n", oneLine(err))
		return 1
	}
	return 0
}

// exportFlags are export's own flags.
type exportFlags struct {
	from, to, branch, units *string
	date                    *string // digest
	noSync                  *bool
	cost                    *int // hash-password
}

// commands are the commands that take flags.
var commands = []string{"serve", "export", "test-alert", "hash-password", "digest"}

func flags(cmd string, out io.Writer) (*flag.FlagSet, exportFlags) {
	fs := flag.NewFlagSet("aggregator "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	for _, s := range settingFlags {
		if slices.Contains(s.cmds, cmd) {
			fs.String(s.flag, "", s.usage+" (overrides "+s.env+")")
		}
	}
	var ex exportFlags
	line := "aggregator " + cmd + " [flags]"
	switch cmd {
	case "test-alert":
		line = "aggregator test-alert [flags]   (channels from ALERT_SMTP_URL, ALERT_TELEGRAM_*, ALERT_WEBHOOK_URL)"
	case "hash-password":
		line = "aggregator hash-password [--cost N] < password   (or type it: the terminal does not echo it)"
		ex.cost = fs.Int("cost", hashCost, "bcrypt cost, 10 to 14")
	case "digest":
		line = "aggregator digest [--date YYYY-MM-DD] [flags]"
		ex.date = fs.String("date", "", "business date to report (default: the headline date, the latest on which every branch not down reported)")
		ex.noSync = fs.Bool("no-sync", false, "use the index snapshot in the data directory as it is, without reading the bucket")
	case "export":
		line = "aggregator export --from YYYY-MM-DD --to YYYY-MM-DD [--branch ID] [--units paise|rupees] [flags]"
		ex.from = fs.String("from", "", "first business date (required)")
		ex.to = fs.String("to", "", "last business date (required)")
		ex.branch = fs.String("branch", "", "one branch id (default: every branch)")
		ex.units = fs.String("units", "paise", "money as integer paise or decimal rupees")
		ex.noSync = fs.Bool("no-sync", false, "use the index snapshot in the data directory as it is, without reading the bucket")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\nflags:\n", line)
		fs.PrintDefaults()
	}
	return fs, ex
}

type usageError struct{ error }

func runExport(ctx context.Context, o options.Options, logger *slog.Logger, ex exportFlags, stdout, stderr io.Writer) error {
	from, err := layout.ParseRangeBound(*ex.from)
	if err != nil {
		return usageError{fmt.Errorf("--from: %q is not a date (YYYY-MM-DD)", *ex.from)}
	}
	to, err := layout.ParseRangeBound(*ex.to)
	if err != nil {
		return usageError{fmt.Errorf("--to: %q is not a date (YYYY-MM-DD)", *ex.to)}
	}
	if to.Before(from) {
		return usageError{errors.New("--to is before --from")}
	}
	if *ex.branch != "" {
		if err := layout.ValidateBranchID(*ex.branch); err != nil {
			return usageError{fmt.Errorf("--branch: %w", err)}
		}
	}
	units, err := csvexport.ParseUnits(*ex.units)
	if err != nil {
		return usageError{err}
	}
	a, err := readOnlyApp(ctx, o, logger, *ex.noSync, "export", stderr)
	if err != nil {
		return err
	}
	if *ex.branch != "" {
		if _, ok := a.Service.Branch(*ex.branch); !ok {
			return fmt.Errorf("no branch %q in the bucket", *ex.branch)
		}
	}
	return api.WriteCSV(stdout, a.Service.EachMetric(*ex.branch, from, to), units)
}

// runDigest prints the digest of --date (the headline date by default),
// read from the bucket as export reads it.
func runDigest(ctx context.Context, o options.Options, logger *slog.Logger, ex exportFlags, stdout, stderr io.Writer) error {
	var date time.Time
	if *ex.date != "" {
		d, err := layout.ParseDate(*ex.date)
		if err != nil {
			return usageError{fmt.Errorf("--date: %q is not a date (YYYY-MM-DD)", *ex.date)}
		}
		date = d
	}
	a, err := readOnlyApp(ctx, o, logger, *ex.noSync, "digest", stderr)
	if err != nil {
		return err
	}
	m := digest.Build(a.Service, date)
	_, err = fmt.Fprintf(stdout, "%s\n\n%s\n", m.Subject, m.Text)
	return err
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

// readOnlyApp builds the aggregator without a server over a read-only
// snapshot and, unless noSync, brings it up to date with the bucket, as
// export and digest read it. A partial read is a warning on stderr when a
// snapshot is there to fall back on; no index at all is an error.
func readOnlyApp(ctx context.Context, o options.Options, logger *slog.Logger, noSync bool, cmd string, stderr io.Writer) (*App, error) {
	a, err := Build(o, Config{Logger: logger, NoServer: true, ReadOnlySnapshot: true})
	if err != nil {
		return nil, err
	}
	if !noSync {
		if err := a.Service.RefreshIncremental(ctx); err != nil {
			if a.Service.Index() == nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "aggregator %s: warning: the bucket was only partly read: %s\n", cmd, oneLine(err))
		}
	}
	if a.Service.Index() == nil {
		return nil, errors.New("no index: the data directory holds no snapshot (run without --no-sync)")
	}
	return a, nil
}
