// Package doctor checks the agent's settings against the world they point
// at: the database answers and accepts the password, a suitable pg_dump is
// installed, the metrics query runs, BACKUP_DIR takes a dump, the bucket
// takes a write under the branch's prefix, the clock agrees with the S3
// server's, the zone and schedules mean what the operator thinks. Each
// check names the setting it concerns, so that a failure says what to fix.
//
// `agent doctor` prints the results; `agent run` runs the same checks at
// start and while one fails (see package cli).
package doctor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/dburl"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Status is a check's outcome.
type Status string

// Outcomes.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP" // not applicable (local-only) or blocked by a failed check
)

// Check identifiers, stable whatever setting a result names.
const (
	CheckDatabase     = "database"
	CheckPGDump       = "pg_dump"
	CheckMetricsQuery = "metrics_query"
	CheckBackupDir    = "backup_dir"
	CheckBucket       = "bucket"
	CheckClock        = "clock"
	CheckTimezone     = "timezone"
	CheckSchedule     = "schedule"
)

// SettingClock stands for the host's clock, which no setting holds.
const SettingClock = "system clock"

// MaxClockSkew is the largest difference from the S3 server's clock that
// passes: S3 refuses request signatures beyond it.
const MaxClockSkew = 5 * time.Minute

// Result is one check's outcome.
type Result struct {
	Check   string // Check* identifier
	Setting string // the setting it concerns, e.g. DATABASE_URL
	Status  Status
	Detail  string // what was found, in words (redacted)
}

// Problem is "SETTING: detail", the form /healthz and the log use.
func (r Result) Problem() string { return r.Setting + ": " + r.Detail }

// String is the line `agent doctor` prints.
func (r Result) String() string { return fmt.Sprintf("%s  %-22s  %s", r.Status, r.Setting, r.Detail) }

// QueryChecker runs the metrics query without storing anything
// (summary.Summarizer is one).
type QueryChecker interface {
	Check(ctx context.Context) error
}

// Config is what the checks need.
type Config struct {
	Options      options.Options
	Store        store.Store  // nil: local-only mode, bucket and clock checks are skipped
	Query        QueryChecker // nil skips the metrics query check
	AgentVersion string
	// Instance is the agent's instance id, written in the status document.
	Instance string
	// Now is the agent's clock (the status document's time, next runs);
	// time.Now when nil.
	Now func() time.Time
	// Wall is the host's real clock, compared with the S3 server's;
	// time.Now when nil.
	Wall func() time.Time
	// FreeSpace reports the bytes available in a directory (statfs when nil).
	FreeSpace func(dir string) (uint64, error)
	// HTTPClient reads the S3 server's Date header (10 s timeout when nil).
	HTTPClient *http.Client
	// Redact removes DATABASE_URL's password from every detail.
	Redact dburl.Redactor
	// Timeout bounds each check (30 s when 0).
	Timeout time.Duration
	// Status, when set, is the agent status document the bucket check
	// writes, given the failing checks so far (`agent run` sends its
	// jobs' records too); agentstatus.New's small document when nil.
	Status func(failing []string) agentstatus.Status
	// OnVersions, when set, learns PostgreSQL's and pg_dump's versions
	// as the checks find them ("" when one is not found).
	OnVersions func(server, pgDump string)
}

// Run runs every check, in a fixed order, and returns one result each.
func Run(ctx context.Context, cfg Config) []Result {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wall == nil {
		cfg.Wall = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	c := &checker{cfg: cfg}
	bounded := func(f func(ctx context.Context) Result) Result {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		return f(cctx)
	}
	var out []Result
	db := bounded(c.database)
	out = append(out, db, bounded(c.pgDump), bounded(c.metricsQuery), c.backupDir())
	out = append(out, bounded(func(ctx context.Context) Result { return c.bucket(ctx, out) }), bounded(c.clock))
	out = append(out, c.timezone())
	out = append(out, c.schedules()...)
	for i := range out {
		out[i].Detail = oneLine(cfg.Redact.String(out[i].Detail))
	}
	return out
}

// Failed are the results that failed.
func Failed(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if r.Status == Fail {
			out = append(out, r)
		}
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

type checker struct {
	cfg    Config
	server serverInfo // set by a passing database check
}

func pass(check, setting, format string, args ...any) Result {
	return Result{Check: check, Setting: setting, Status: Pass, Detail: fmt.Sprintf(format, args...)}
}

func fail(check, setting, format string, args ...any) Result {
	return Result{Check: check, Setting: setting, Status: Fail, Detail: fmt.Sprintf(format, args...)}
}

func skip(check, setting, format string, args ...any) Result {
	return Result{Check: check, Setting: setting, Status: Skip, Detail: fmt.Sprintf(format, args...)}
}
