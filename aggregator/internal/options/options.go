// Package options reads the aggregator's settings from the environment
// (flags may override each) into one Options value, validated once at
// start-up: a bad setting fails at start, not at 22:00.
package options

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert/email"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Environment variable names. The first group is fixed by interfaces.md.
const (
	EnvListen          = "AGGREGATOR_LISTEN"
	EnvDataDir         = "AGGREGATOR_DATA_DIR"
	EnvRefreshInterval = "AGGREGATOR_REFRESH_INTERVAL"
	EnvTimezone        = "AGGREGATOR_TIMEZONE"
	EnvExpected        = "EXPECTED_BRANCHES"
	EnvWebhookURL      = "ALERT_WEBHOOK_URL"
	EnvUser            = "DASHBOARD_USER"
	EnvPasswordBcrypt  = "DASHBOARD_PASSWORD_BCRYPT"
	EnvToken           = "DASHBOARD_TOKEN"
	EnvInsecureNoAuth  = "AGGREGATOR_INSECURE_NO_AUTH"

	EnvBucketDir        = "AGGREGATOR_BUCKET_DIR"
	EnvFullSyncInterval = "AGGREGATOR_FULL_SYNC_INTERVAL"
	EnvRelistDays       = "AGGREGATOR_RELIST_DAYS"
	EnvSyncConcurrency  = "AGGREGATOR_SYNC_CONCURRENCY"
	EnvMetricsExpected  = "METRICS_EXPECTED_AT"
	EnvMetricsGrace     = "METRICS_GRACE"
	EnvBackupExpected   = "BACKUP_EXPECTED_AT"
	EnvBackupGrace      = "BACKUP_GRACE"
	EnvDrillPeriod      = "DRILL_PERIOD"
	EnvDrillGrace       = "DRILL_GRACE"
	EnvReminder         = "ALERT_REMINDER_INTERVAL"
	EnvLogLevel         = "LOG_LEVEL"
	EnvDigestTime       = "DIGEST_TIME"

	EnvSMTPURL        = "ALERT_SMTP_URL"
	EnvSMTPCAFile     = "ALERT_SMTP_CA_FILE"
	EnvEmailFrom      = "ALERT_EMAIL_FROM"
	EnvEmailTo        = "ALERT_EMAIL_TO"
	EnvTelegramToken  = "ALERT_TELEGRAM_BOT_TOKEN"
	EnvTelegramChatID = "ALERT_TELEGRAM_CHAT_ID"
	EnvTelegramAPIURL = "ALERT_TELEGRAM_API_URL"
	EnvSyncTimeout    = "AGGREGATOR_SYNC_TIMEOUT"
	EnvRequestTimeout = "AGGREGATOR_REQUEST_TIMEOUT"
	EnvSyncAlertAfter = "AGGREGATOR_SYNC_ALERT_AFTER"
)

// Defaults.
const (
	DefaultListen           = "127.0.0.1:8080"
	DefaultDataDir          = "./aggregator-data"
	DefaultRefreshInterval  = 5 * time.Minute
	DefaultTimezone         = "Asia/Kolkata"
	DefaultFullSyncInterval = time.Hour
	DefaultRelistDays       = 16
	DefaultSyncConcurrency  = 16
	DefaultMetricsExpected  = "21:45"
	DefaultMetricsGrace     = 2 * time.Hour
	DefaultBackupExpected   = "22:00"
	DefaultBackupGrace      = 2 * time.Hour
	DefaultTelegramAPIURL   = "https://api.telegram.org"
	DefaultSyncTimeout      = 10 * time.Minute
	DefaultRequestTimeout   = 30 * time.Second
	DefaultSyncAlertAfter   = 30 * time.Minute
)

// Options is every setting of the aggregator.
type Options struct {
	Listen          string
	DataDir         string
	RefreshInterval time.Duration
	// FullSyncInterval is how often a refresh also discovers new branches
	// and re-lists every object (deletions, old documents rewritten);
	// refreshes in between list only what is new.
	FullSyncInterval time.Duration
	// RelistDays is how many days before a branch's newest document an
	// incremental refresh re-lists (catch-up pushes, late final versions).
	RelistDays      int
	SyncConcurrency int
	// SyncTimeout bounds one sync as a whole; RequestTimeout each request
	// and download of it. A sync that overruns is cancelled, counted as
	// failed.
	SyncTimeout    time.Duration
	RequestTimeout time.Duration
	// SyncAlertAfter is how long syncs fail before the sync-failure alert.
	SyncAlertAfter time.Duration
	Location       *time.Location // default branch zone
	Expected       []string
	// Tags are the tags EXPECTED_BRANCHES gives branches (id:tag+tag), by
	// branch id; the overview groups and searches by them.
	Tags map[string][]string

	// S3 is the bucket; BucketDir a local copy of it (exactly one is set).
	S3        store.S3Options
	S3Enabled bool
	BucketDir string

	MetricsExpectedAt time.Duration // offset from local midnight
	MetricsGrace      time.Duration
	BackupExpectedAt  time.Duration
	BackupGrace       time.Duration
	// DrillPeriod is how often a restore drill is expected; DrillGrace
	// how long after that the drill check stays up.
	DrillPeriod time.Duration
	DrillGrace  time.Duration

	WebhookURL config.Secret // "" disables the webhook channel
	Reminder   time.Duration
	// Email is the SMTP channel (SMTPURL "" disables it).
	SMTPURL    config.Secret
	SMTP       email.Server
	SMTPCAFile string // PEM roots for the server's certificate; "" the system's
	EmailFrom  string
	EmailTo    []string
	// Telegram is the bot channel (TelegramToken "" disables it).
	TelegramToken  config.Secret
	TelegramChatID string
	TelegramAPIURL string

	User           string
	PasswordBcrypt string // a bcrypt hash, never logged
	Token          string // never logged
	InsecureNoAuth bool

	LogLevel string

	// DigestAt is when the morning digest goes out, as an offset from
	// midnight in Location; DigestOff disables it (DIGEST_TIME=off).
	DigestAt  time.Duration
	DigestOff bool
}

// Need says which groups of settings a command requires.
type Need struct {
	Bucket bool // a bucket (S3 or directory)
	Auth   bool // credentials, or AGGREGATOR_INSECURE_NO_AUTH
}

// Load reads and validates every setting, reporting every problem at once.
func Load(r *config.Reader, need Need) (Options, error) {
	o := Options{
		Listen:           r.String(EnvListen, DefaultListen),
		DataDir:          r.String(EnvDataDir, DefaultDataDir),
		RefreshInterval:  r.Duration(EnvRefreshInterval, DefaultRefreshInterval),
		FullSyncInterval: r.Duration(EnvFullSyncInterval, DefaultFullSyncInterval),
		RelistDays:       r.Int(EnvRelistDays, DefaultRelistDays, 1),
		SyncConcurrency:  r.Int(EnvSyncConcurrency, DefaultSyncConcurrency, 1),
		SyncTimeout:      r.Duration(EnvSyncTimeout, DefaultSyncTimeout),
		RequestTimeout:   r.Duration(EnvRequestTimeout, DefaultRequestTimeout),
		SyncAlertAfter:   r.Duration(EnvSyncAlertAfter, DefaultSyncAlertAfter),
		Location:         r.Location(EnvTimezone, DefaultTimezone),
		BucketDir:        r.String(EnvBucketDir, ""),
		MetricsGrace:     r.Duration(EnvMetricsGrace, DefaultMetricsGrace),
		BackupGrace:      r.Duration(EnvBackupGrace, DefaultBackupGrace),
		WebhookURL:       r.Secret(EnvWebhookURL),
		Reminder:         r.Duration(EnvReminder, 0),
		User:             r.String(EnvUser, ""),
		PasswordBcrypt:   r.String(EnvPasswordBcrypt, ""),
		Token:            r.String(EnvToken, ""),
		InsecureNoAuth:   r.Bool(EnvInsecureNoAuth, false),
		LogLevel:         r.String(EnvLogLevel, "info"),
	}
	o.MetricsExpectedAt = clockTime(r, EnvMetricsExpected, DefaultMetricsExpected)
	o.DrillPeriod = days(r, EnvDrillPeriod, "7d")
	o.DrillGrace = days(r, EnvDrillGrace, "1d")
	if o.DrillPeriod <= 0 {
		r.Fail(EnvDrillPeriod, "must be positive")
	}
	o.BackupExpectedAt = clockTime(r, EnvBackupExpected, DefaultBackupExpected)
	if v := strings.TrimSpace(r.String(EnvDigestTime, DefaultDigestTime)); strings.EqualFold(v, "off") {
		o.DigestOff = true
	} else if t, err := time.Parse("15:04", v); err != nil {
		r.Fail(EnvDigestTime, "%q is not a time of day HH:MM (e.g. %s) or off", v, DefaultDigestTime)
	} else {
		o.DigestAt = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	o.S3, o.S3Enabled = r.S3For("or none of them and " + EnvBucketDir + " for a local copy of the bucket")

	for _, item := range r.List(EnvExpected) {
		id, tags, err := ParseExpected(item)
		if err != nil {
			r.Fail(EnvExpected, "%v", err)
			continue
		}
		o.Expected = append(o.Expected, id)
		if len(tags) > 0 {
			if o.Tags == nil {
				o.Tags = map[string][]string{}
			}
			o.Tags[id] = tags
		}
	}
	if o.RefreshInterval < time.Second {
		r.Fail(EnvRefreshInterval, "%s is too short (at least 1s)", o.RefreshInterval)
	}
	if o.FullSyncInterval < o.RefreshInterval {
		r.Fail(EnvFullSyncInterval, "%s is shorter than %s (%s)", o.FullSyncInterval, EnvRefreshInterval, o.RefreshInterval)
	}
	if o.SyncTimeout < time.Second {
		r.Fail(EnvSyncTimeout, "%s is too short (at least 1s)", o.SyncTimeout)
	}
	if o.RequestTimeout < 100*time.Millisecond {
		r.Fail(EnvRequestTimeout, "%s is too short (at least 100ms)", o.RequestTimeout)
	}
	if o.SyncAlertAfter <= 0 {
		r.Fail(EnvSyncAlertAfter, "%s must be positive", o.SyncAlertAfter)
	}
	if o.SyncConcurrency > 256 {
		r.Fail(EnvSyncConcurrency, "%d is above 256", o.SyncConcurrency)
	}
	if o.DataDir == "" {
		r.Fail(EnvDataDir, "must not be empty")
	}
	if need.Bucket {
		switch {
		case o.S3Enabled && o.BucketDir != "":
			r.Fail(EnvBucketDir, "set either BACKUP_S3_* or %s, not both", EnvBucketDir)
		case !o.S3Enabled && o.BucketDir == "" && !r.S3Any():
			// (Some BACKUP_S3_* but not all is reported on each missing one.)
			r.Fail(config.EnvS3Bucket, "no bucket configured: set BACKUP_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY, or %s for a local copy of the bucket", EnvBucketDir)
		case !o.S3Enabled && o.BucketDir != "" && r.S3Any():
			r.Fail(EnvBucketDir, "set either BACKUP_S3_* or %s, not both", EnvBucketDir)
		}
	}
	if need.Auth {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			r.Fail(EnvListen, "%q is not host:port", o.Listen)
		}
		o.checkAuth(r)
	}
	if o.WebhookURL.IsSet() {
		if u, err := url.Parse(o.WebhookURL.Reveal()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may hold a secret path (Slack hooks do): do not echo it.
			r.Fail(EnvWebhookURL, "is not an http(s) URL")
		}
	}
	o.loadChannels(r)
	switch strings.ToLower(o.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		r.Fail(EnvLogLevel, "%q is not one of debug, info, warn, error", o.LogLevel)
	}
	return o, r.Err()
}

func (o *Options) checkAuth(r *config.Reader) {
	basic := o.User != "" || o.PasswordBcrypt != ""
	if basic {
		switch {
		case o.User == "":
			r.Fail(EnvUser, "is required with %s", EnvPasswordBcrypt)
		case o.PasswordBcrypt == "":
			r.Fail(EnvPasswordBcrypt, "is required with %s", EnvUser)
		default:
			if _, err := bcrypt.Cost([]byte(o.PasswordBcrypt)); err != nil {
				r.Fail(EnvPasswordBcrypt, "is not a bcrypt hash ($2a$, $2b$ or $2y$...); make one with: aggregator hash-password")
			}
		}
		if strings.Contains(o.User, ":") {
			r.Fail(EnvUser, "must not contain ':'")
		}
	}
	if o.Token != "" && len(o.Token) < 16 {
		r.Fail(EnvToken, "is too short (at least 16 characters; e.g. openssl rand -hex 32)")
	}
	if !basic && o.Token == "" && !o.InsecureNoAuth {
		r.Fail(EnvUser, "no credentials configured: set %s and %s, or %s (or %s=true to run without authentication)",
			EnvUser, EnvPasswordBcrypt, EnvToken, EnvInsecureNoAuth)
	}
}

// days reads a duration that may also be whole days ("7d").
func days(r *config.Reader, name, def string) time.Duration {
	v := r.String(name, def)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 0 && d <= 3650 {
			return time.Duration(d) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.Fail(name, "%q is not a duration (e.g. 7d, 36h)", v)
	}
	return d
}

// clockTime reads "HH:MM" as an offset from midnight.
// DefaultDigestTime is when the morning digest goes out (in
// AGGREGATOR_TIMEZONE); "off" disables it.
const DefaultDigestTime = "09:00"

func clockTime(r *config.Reader, name, def string) time.Duration {
	v := r.String(name, def)
	t, err := time.Parse("15:04", v)
	if err != nil {
		r.Fail(name, "%q is not a time of day HH:MM (e.g. %s)", v, def)
		t, _ = time.Parse("15:04", def)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}

// AuthConfigured reports whether any credential is set.
func (o Options) AuthConfigured() bool {
	return o.Token != "" || (o.User != "" && o.PasswordBcrypt != "")
}

// String shows the settings without secrets.
func (o Options) String() string {
	bucket := "dir:" + o.BucketDir
	if o.S3Enabled {
		bucket = o.S3.String()
	}
	return fmt.Sprintf("listen=%s data_dir=%s bucket=%s refresh=%s full_sync=%s tz=%s expected=%d alert_channels=%s basic_auth=%t token=%t insecure_no_auth=%t",
		o.Listen, o.DataDir, bucket, o.RefreshInterval, o.FullSyncInterval, o.Location, len(o.Expected),
		strings.Join(o.AlertChannels(), ","), o.User != "", o.Token != "", o.InsecureNoAuth)
}

// ParseExpected reads one EXPECTED_BRANCHES item: a branch id, optionally
// followed by ':' and its tags joined by '+' ("powai:mumbai+west"). A tag
// is written like a branch id (a-z, 0-9 and '-'); a repeated tag counts
// once.
func ParseExpected(item string) (id string, tags []string, err error) {
	id, rest, hasTags := strings.Cut(item, ":")
	if err := layout.ValidateBranchID(id); err != nil {
		return "", nil, err
	}
	if !hasTags {
		return id, nil, nil
	}
	for _, t := range strings.Split(rest, "+") {
		if err := layout.ValidateBranchID(t); err != nil {
			return "", nil, fmt.Errorf("tag %q of branch %s: a tag holds only a-z, 0-9 and '-', not starting or ending with '-' (write id:tag+tag)", t, id)
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return id, tags, nil
}
