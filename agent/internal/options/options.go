// Package options reads the agent's settings from the environment (flags may
// override each) into one Options value, validated once at start-up.
package options

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/robfig/cron/v3"

	"github.com/branchwatch/branchwatch/agent/internal/dburl"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Defaults, as interfaces.md fixes them.
const (
	DefaultBranchID             = "default"
	DefaultTimezone             = "Asia/Kolkata"
	DefaultBackupDir            = "/backups"
	DefaultRetentionDays        = 7
	DefaultCloudRetentionDays   = 90
	DefaultMetricsCatchupDays   = 14
	DefaultSummaryCatchupDays   = 400
	DefaultSummarySchedule      = "45 21 * * *"
	DefaultBackupSchedule       = "0 22 * * *"
	DefaultCleanupSchedule      = "0 2 * * 0"
	DefaultListen               = "127.0.0.1:9187"
	DefaultMinDumpBytes         = 1024
	DefaultCloudKeepNewest      = 3
	DefaultSummaryRetryAttempts = 0
	DefaultSummaryRetryBackoff  = time.Minute
	DefaultCloudRetention       = CloudRetentionAgent
	DefaultObjectLockMode       = ObjectLockCompliance
	DefaultVerifySchedule       = "0 3 * * 0"
	DefaultJobRetryFor          = 4 * time.Hour
	DefaultJobTimeout           = 2 * time.Hour
	// DefaultVerifyCountMaxRows: tables the planner estimates above a
	// million rows are not counted for the manifest. Counting every table
	// of the 1.1 GB benchmark database (7.5 M rows in one table) made the
	// backup 1.22× as long on a quiet 2-core machine (BenchmarkBackupCounting):
	// count(*) competes with pg_dump and its server process for the CPU.
	// A salon's tables stay far below a million rows for years.
	DefaultVerifyCountMaxRows = 1_000_000
)

// Who applies cloud retention (BACKUP_CLOUD_RETENTION).
const (
	// CloudRetentionAgent: the agent's weekly cleanup deletes old backups.
	CloudRetentionAgent = "agent"
	// CloudRetentionBucket: the bucket's lifecycle rule does; the agent
	// never deletes in the cloud, so its key needs no delete capability.
	CloudRetentionBucket = "bucket"
)

// Object-lock modes (BACKUP_S3_OBJECT_LOCK_MODE), as S3 names them.
const (
	ObjectLockCompliance = "COMPLIANCE"
	ObjectLockGovernance = "GOVERNANCE"
)

// Options is every setting of the agent.
type Options struct {
	DatabaseURL string // holds the password: never log it, use RedactedDatabaseURL

	BranchID   string
	BranchName string
	Location   *time.Location
	BackupDir  string

	RetentionDays      int // local dumps
	CloudRetentionDays int
	CloudKeepNewest    int // newest good cloud backups kept whatever their age
	// CloudRetention is CloudRetentionAgent or CloudRetentionBucket.
	CloudRetention string
	// ObjectLockDays > 0 locks every uploaded dump for that many days in
	// ObjectLockMode (the bucket must have object lock enabled).
	ObjectLockDays int
	ObjectLockMode string

	S3        store.S3Options
	S3Enabled bool // false: local-only

	PGDumpPath   string // explicit pg_dump; "" to search
	MinDumpBytes int64
	// EncryptionRecipients are age public keys; when set nothing is uploaded in clear.
	EncryptionRecipients    []age.Recipient
	EncryptionRecipientText []string

	MetricsQueryFile   string
	SummarySchedule    string
	BackupSchedule     string
	CleanupSchedule    string
	MetricsCatchupDays int
	SummaryCatchupDays int // how far back summary catch-up may reach
	// A failed summary job is tried again, waiting SummaryRetryBackoff
	// after the first failure, doubling up to 15 minutes, until
	// JobRetryFor has passed or (when positive) SummaryRetryAttempts
	// attempts were made.
	SummaryRetryAttempts int
	SummaryRetryBackoff  time.Duration
	// JobRetryFor is how long the daemon's upload, metrics push, cleanup
	// and summary keep being retried after transient failures (0: never).
	JobRetryFor time.Duration
	// JobTimeout is the deadline of one job run, retries included.
	JobTimeout time.Duration

	Listen string // /healthz and /metrics; "" (AGENT_LISTEN=off) disables

	// VerifySchedule is the restore drill's cron; "" (VERIFY_SCHEDULE=off) disables.
	VerifySchedule string
	// VerifyDatabaseURL is where drills restore (a database that is
	// replaced); "" creates a temporary database on the branch server.
	// Holds a password: never log it.
	VerifyDatabaseURL string
	// VerifyIdentities decrypt encrypted backups in drills (VERIFY_IDENTITY_FILE).
	VerifyIdentities   []age.Identity
	VerifyIdentityFile string
	// VerifyCountMaxRows leaves tables estimated above it uncounted in the
	// manifest (DefaultVerifyCountMaxRows); 0 counts every table, a
	// negative value none (benchmarks).
	VerifyCountMaxRows int64

	// Dead-man's-switch URLs (healthchecks.io convention), per job; "" disables.
	PingSummaryURL string
	PingBackupURL  string
	PingCleanupURL string
	PingVerifyURL  string

	LogLevel string
}

// Environment variable names.
const (
	EnvDatabaseURL          = "DATABASE_URL"
	EnvBranchID             = "BRANCH_ID"
	EnvBranchName           = "BRANCH_NAME"
	EnvTimezone             = "BRANCH_TIMEZONE"
	EnvBackupDir            = "BACKUP_DIR"
	EnvRetentionDays        = "BACKUP_RETENTION_DAYS"
	EnvCloudRetentionDays   = "BACKUP_CLOUD_RETENTION_DAYS"
	EnvCloudKeepNewest      = "BACKUP_CLOUD_KEEP_NEWEST"
	EnvCloudRetention       = "BACKUP_CLOUD_RETENTION"
	EnvObjectLockDays       = "BACKUP_S3_OBJECT_LOCK_DAYS"
	EnvObjectLockMode       = "BACKUP_S3_OBJECT_LOCK_MODE"
	EnvPGDumpPath           = "PG_DUMP_PATH"
	EnvMinDumpBytes         = "BACKUP_MIN_SIZE_BYTES"
	EnvEncryptionRecipients = "BACKUP_ENCRYPTION_RECIPIENTS"
	EnvMetricsQueryFile     = "METRICS_QUERY_FILE"
	EnvSummarySchedule      = "SUMMARY_SCHEDULE"
	EnvBackupSchedule       = "BACKUP_SCHEDULE"
	EnvCleanupSchedule      = "CLOUD_CLEANUP_SCHEDULE"
	EnvMetricsCatchupDays   = "METRICS_CATCHUP_DAYS"
	EnvSummaryCatchupDays   = "SUMMARY_CATCHUP_MAX_DAYS"
	EnvSummaryRetryAttempts = "SUMMARY_RETRY_ATTEMPTS"
	EnvSummaryRetryBackoff  = "SUMMARY_RETRY_BACKOFF"
	EnvJobRetryFor          = "JOB_RETRY_FOR"
	EnvJobTimeout           = "JOB_TIMEOUT"
	EnvListen               = "AGENT_LISTEN"
	EnvPingSummaryURL       = "HEALTHCHECK_SUMMARY_URL"
	EnvPingBackupURL        = "HEALTHCHECK_BACKUP_URL"
	EnvPingCleanupURL       = "HEALTHCHECK_CLEANUP_URL"
	EnvPingVerifyURL        = "HEALTHCHECK_VERIFY_URL"
	EnvVerifySchedule       = "VERIFY_SCHEDULE"
	EnvVerifyDatabaseURL    = "VERIFY_DATABASE_URL"
	EnvVerifyIdentityFile   = "VERIFY_IDENTITY_FILE"
	EnvVerifyCountMaxRows   = "VERIFY_COUNT_MAX_ROWS"
	EnvLogLevel             = "LOG_LEVEL"
)

// Load reads and validates every setting. needDB says whether DATABASE_URL
// is required (every command but help needs it).
func Load(r *config.Reader, needDB bool) (Options, error) {
	o := Options{
		DatabaseURL:        r.String(EnvDatabaseURL, ""),
		BranchID:           r.BranchID(EnvBranchID, DefaultBranchID),
		Location:           r.Location(EnvTimezone, DefaultTimezone),
		BackupDir:          r.String(EnvBackupDir, DefaultBackupDir),
		RetentionDays:      r.Int(EnvRetentionDays, DefaultRetentionDays, 1),
		CloudRetentionDays: r.Int(EnvCloudRetentionDays, DefaultCloudRetentionDays, 1),
		CloudKeepNewest:    r.Int(EnvCloudKeepNewest, DefaultCloudKeepNewest, 1),
		PGDumpPath:         r.String(EnvPGDumpPath, ""),
		MinDumpBytes:       int64(r.Int(EnvMinDumpBytes, DefaultMinDumpBytes, 1)),
		MetricsQueryFile:   r.String(EnvMetricsQueryFile, ""),
		SummarySchedule:    r.String(EnvSummarySchedule, DefaultSummarySchedule),
		BackupSchedule:     r.String(EnvBackupSchedule, DefaultBackupSchedule),
		CleanupSchedule:    r.String(EnvCleanupSchedule, DefaultCleanupSchedule),
		MetricsCatchupDays: r.Int(EnvMetricsCatchupDays, DefaultMetricsCatchupDays, 0),
		SummaryCatchupDays: r.Int(EnvSummaryCatchupDays, DefaultSummaryCatchupDays, 1),
		Listen:             r.String(EnvListen, DefaultListen),
		PingSummaryURL:     r.String(EnvPingSummaryURL, ""),
		PingBackupURL:      r.String(EnvPingBackupURL, ""),
		PingCleanupURL:     r.String(EnvPingCleanupURL, ""),
		PingVerifyURL:      r.String(EnvPingVerifyURL, ""),
		VerifySchedule:     r.String(EnvVerifySchedule, DefaultVerifySchedule),
		VerifyDatabaseURL:  r.String(EnvVerifyDatabaseURL, ""),
		VerifyIdentityFile: r.String(EnvVerifyIdentityFile, ""),
		VerifyCountMaxRows: int64(r.Int(EnvVerifyCountMaxRows, DefaultVerifyCountMaxRows, 0)),
		LogLevel:           r.String(EnvLogLevel, "info"),
	}
	if strings.EqualFold(o.Listen, "off") {
		o.Listen = "" // no /healthz and /metrics listener
	}
	if strings.EqualFold(o.VerifySchedule, "off") {
		o.VerifySchedule = "" // no scheduled restore drills
	}
	o.BranchName = r.String(EnvBranchName, o.BranchID)
	o.SummaryRetryAttempts = r.Int(EnvSummaryRetryAttempts, DefaultSummaryRetryAttempts, 0)
	o.SummaryRetryBackoff = r.Duration(EnvSummaryRetryBackoff, DefaultSummaryRetryBackoff)
	o.JobRetryFor = r.Duration(EnvJobRetryFor, DefaultJobRetryFor)
	o.JobTimeout = r.Duration(EnvJobTimeout, DefaultJobTimeout)
	if o.JobRetryFor < 0 {
		r.Fail(EnvJobRetryFor, "must not be negative (0 disables job retries)")
	}
	if o.JobTimeout <= 0 {
		r.Fail(EnvJobTimeout, "must be a positive duration such as 2h")
	}
	o.S3, o.S3Enabled = r.S3()
	o.loadCloudProtection(r)

	if needDB {
		if o.DatabaseURL == "" {
			r.Fail(EnvDatabaseURL, "is required (postgres://user:pass@host:5432/db?sslmode=disable)")
		} else if err := dburl.Check(o.DatabaseURL); err != nil {
			r.Fail(EnvDatabaseURL, "%v", err) // never quotes the URL
		}
	}
	if o.S3Enabled && !r.Set(EnvBranchID) {
		// Two branches left at "default" would write the same prefix.
		r.Fail(EnvBranchID, "must be set when a bucket is configured (%s): each branch writes under its own <branch>/ prefix; %q is for local-only mode",
			config.EnvS3Bucket, DefaultBranchID)
	}
	for _, s := range []struct{ name, spec string }{
		{EnvSummarySchedule, o.SummarySchedule}, {EnvBackupSchedule, o.BackupSchedule}, {EnvCleanupSchedule, o.CleanupSchedule},
		{EnvVerifySchedule, o.VerifySchedule},
	} {
		if s.spec == "" && s.name == EnvVerifySchedule {
			continue // off
		}
		if _, err := cron.ParseStandard(s.spec); err != nil {
			r.Fail(s.name, "%q is not a cron expression (minute hour day month weekday): %v", s.spec, err)
		}
	}
	if o.MetricsQueryFile != "" {
		if _, err := os.Stat(o.MetricsQueryFile); err != nil {
			r.Fail(EnvMetricsQueryFile, "cannot read %s: %v", o.MetricsQueryFile, err)
		}
	}
	if o.PGDumpPath != "" {
		if _, err := os.Stat(o.PGDumpPath); err != nil {
			r.Fail(EnvPGDumpPath, "%v", err)
		}
	}
	for _, txt := range r.List(EnvEncryptionRecipients) {
		rec, err := age.ParseX25519Recipient(txt)
		if err != nil {
			r.Fail(EnvEncryptionRecipients, "%q is not an age public key (age1...): %v", txt, err)
			continue
		}
		o.EncryptionRecipients = append(o.EncryptionRecipients, rec)
		o.EncryptionRecipientText = append(o.EncryptionRecipientText, txt)
	}
	if o.VerifyDatabaseURL != "" {
		if err := dburl.Check(o.VerifyDatabaseURL); err != nil {
			r.Fail(EnvVerifyDatabaseURL, "%v", err) // never quotes the URL
		}
	}
	if o.VerifyIdentityFile != "" {
		ids, err := ReadIdentities(o.VerifyIdentityFile)
		if err != nil {
			r.Fail(EnvVerifyIdentityFile, "%v", err)
		}
		o.VerifyIdentities = ids
	}
	for _, p := range []struct{ name, v string }{{EnvPingSummaryURL, o.PingSummaryURL}, {EnvPingBackupURL, o.PingBackupURL}, {EnvPingCleanupURL, o.PingCleanupURL}, {EnvPingVerifyURL, o.PingVerifyURL}} {
		if p.v == "" {
			continue
		}
		if u, err := url.Parse(p.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail(p.name, "%q is not an http(s) URL", p.v)
		}
	}
	switch strings.ToLower(o.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		r.Fail(EnvLogLevel, "%q is not one of debug, info, warn, error", o.LogLevel)
	}
	if err := r.Err(); err != nil {
		return o, err
	}
	return o, nil
}

// loadCloudProtection reads who applies cloud retention and the object
// lock of uploads.
func (o *Options) loadCloudProtection(r *config.Reader) {
	o.CloudRetention = strings.ToLower(strings.TrimSpace(r.String(EnvCloudRetention, DefaultCloudRetention)))
	switch o.CloudRetention {
	case CloudRetentionAgent, CloudRetentionBucket:
	default:
		r.Fail(EnvCloudRetention, "%q is not %s (the agent's cleanup deletes old backups) or %s (the bucket's lifecycle rule does; the agent never deletes)",
			o.CloudRetention, CloudRetentionAgent, CloudRetentionBucket)
	}
	o.ObjectLockDays = r.Int(EnvObjectLockDays, 0, 0)
	o.ObjectLockMode = strings.ToUpper(strings.TrimSpace(r.String(EnvObjectLockMode, DefaultObjectLockMode)))
	switch o.ObjectLockMode {
	case ObjectLockCompliance, ObjectLockGovernance:
	default:
		r.Fail(EnvObjectLockMode, "%q is not %s or %s", o.ObjectLockMode, ObjectLockCompliance, ObjectLockGovernance)
	}
	if r.Set(EnvObjectLockMode) && o.ObjectLockDays == 0 {
		r.Fail(EnvObjectLockMode, "is set but %s is not: set the number of days each upload stays locked", EnvObjectLockDays)
	}
	if o.ObjectLockDays > 36500 {
		r.Fail(EnvObjectLockDays, "%d days is more than 100 years", o.ObjectLockDays)
	}
	if o.ObjectLockDays > 0 && !o.S3Enabled {
		r.Fail(EnvObjectLockDays, "locks uploads in the bucket, but no bucket is configured (local-only mode)")
	}
}

// ObjectLockUntil is when an upload made at now stays locked until; zero
// when uploads are not locked.
func (o Options) ObjectLockUntil(now time.Time) time.Time {
	if o.ObjectLockDays <= 0 {
		return time.Time{}
	}
	return now.UTC().Add(time.Duration(o.ObjectLockDays) * 24 * time.Hour).Truncate(time.Second)
}

// ReadIdentities reads an age identity file (the secret keys that decrypt
// backups). Its errors never quote the file's content.
func ReadIdentities(file string) ([]age.Identity, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("%s holds no age identity (AGE-SECRET-KEY-1...)", file)
	}
	return ids, nil
}

// Encrypted reports whether uploads are encrypted.
func (o Options) Encrypted() bool { return len(o.EncryptionRecipients) > 0 }

// RedactedDatabaseURL is DATABASE_URL with the password replaced, for logs.
func (o Options) RedactedDatabaseURL() string { return RedactURL(o.DatabaseURL) }

// RedactURL hides the password of a connection URL.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// String never shows secrets.
func (o Options) String() string {
	return fmt.Sprintf("branch=%s tz=%s backup_dir=%s db=%s s3=%v", o.BranchID, o.Location, o.BackupDir, o.RedactedDatabaseURL(), o.S3)
}
