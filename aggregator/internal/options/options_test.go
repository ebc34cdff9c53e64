package options_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
)

func load(env map[string]string, need options.Need) (options.Options, error) {
	return options.Load(config.NewReader(config.MapLookup(env)), need)
}

func TestDefaults(t *testing.T) {
	o, err := load(map[string]string{"AGGREGATOR_BUCKET_DIR": "/srv/bucket", "AGGREGATOR_INSECURE_NO_AUTH": "true"}, options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:8080" || o.DataDir != "./aggregator-data" || o.RefreshInterval != 5*time.Minute ||
		o.Location.String() != "Asia/Kolkata" || o.MetricsExpectedAt != 21*time.Hour+45*time.Minute ||
		o.BackupExpectedAt != 22*time.Hour || o.MetricsGrace != 2*time.Hour || o.BackupGrace != 2*time.Hour ||
		o.Reminder != 0 || o.FullSyncInterval != time.Hour || o.SyncConcurrency != 16 ||
		o.DigestAt != 9*time.Hour || o.DigestOff ||
		o.DrillPeriod != 7*24*time.Hour || o.DrillGrace != 24*time.Hour {
		t.Errorf("defaults = %+v", o)
	}
}

func TestDigestTime(t *testing.T) {
	for v, want := range map[string]struct {
		at  time.Duration
		off bool
	}{"07:30": {at: 7*time.Hour + 30*time.Minute}, "off": {off: true}, "OFF": {off: true}} {
		o, err := load(map[string]string{"AGGREGATOR_BUCKET_DIR": "/srv/bucket", "DIGEST_TIME": v}, options.Need{Bucket: true})
		if err != nil || o.DigestAt != want.at || o.DigestOff != want.off {
			t.Errorf("DIGEST_TIME=%s: at %s off %v, %v", v, o.DigestAt, o.DigestOff, err)
		}
	}
}

func TestProblems(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	s3 := map[string]string{"BACKUP_S3_ENDPOINT": "http://127.0.0.1:9000", "BACKUP_S3_BUCKET": "b", "BACKUP_S3_ACCESS_KEY": "a", "BACKUP_S3_SECRET_KEY": "s3cr3t-value"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{"DASHBOARD_TOKEN": "0123456789abcdef0123"}
		for k, v := range s3 {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string // "" for no error
	}{
		{"token only", with(nil), ""},
		{"basic auth", with(map[string]string{"DASHBOARD_TOKEN": "", "DASHBOARD_USER": "owner", "DASHBOARD_PASSWORD_BCRYPT": string(hash)}), ""},
		{"no credentials", with(map[string]string{"DASHBOARD_TOKEN": ""}), "no credentials configured"},
		{"user without hash", with(map[string]string{"DASHBOARD_USER": "owner"}), "DASHBOARD_PASSWORD_BCRYPT"},
		{"plain password instead of a hash", with(map[string]string{"DASHBOARD_USER": "owner", "DASHBOARD_PASSWORD_BCRYPT": "hunter2"}), "not a bcrypt hash"},
		{"short token", with(map[string]string{"DASHBOARD_TOKEN": "abc"}), "DASHBOARD_TOKEN:  is too short"},
		{"no bucket", map[string]string{"DASHBOARD_TOKEN": "0123456789abcdef0123"}, "no bucket configured"},
		{"two buckets", with(map[string]string{"AGGREGATOR_BUCKET_DIR": "/x"}), "not both"},
		{"bad expected branch", with(map[string]string{"EXPECTED_BRANCHES": "andheri, Bandra"}), "EXPECTED_BRANCHES"},
		{"bad time of day", with(map[string]string{"METRICS_EXPECTED_AT": "25:00"}), "METRICS_EXPECTED_AT"},
		{"bad grace", with(map[string]string{"BACKUP_GRACE": "soon"}), "BACKUP_GRACE"},
		{"bad digest time", with(map[string]string{"DIGEST_TIME": "9am"}), "DIGEST_TIME"},
		{"bad drill period", with(map[string]string{"DRILL_PERIOD": "weekly"}), "DRILL_PERIOD"},
		{"zero drill period", with(map[string]string{"DRILL_PERIOD": "0d"}), "must be positive"},
		{"bad drill grace", with(map[string]string{"DRILL_GRACE": "-1d"}), "DRILL_GRACE"},
		{"bad webhook", with(map[string]string{"ALERT_WEBHOOK_URL": "ftp://hooks.example/secret"}), "ALERT_WEBHOOK_URL"},
		{"bad zone", with(map[string]string{"AGGREGATOR_TIMEZONE": "Mars/Olympus"}), "AGGREGATOR_TIMEZONE"},
		{"full sync shorter than refresh", with(map[string]string{"AGGREGATOR_FULL_SYNC_INTERVAL": "1m"}), "AGGREGATOR_FULL_SYNC_INTERVAL"},
		{"bad listen", with(map[string]string{"AGGREGATOR_LISTEN": "8080"}), "AGGREGATOR_LISTEN"},
		{"partial s3 says no local-only", map[string]string{"DASHBOARD_TOKEN": "0123456789abcdef0123", "BACKUP_S3_BUCKET": "b"},
			"BACKUP_S3_ENDPOINT:    is missing while BACKUP_S3_BUCKET is set: set all four of BACKUP_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY, or none of them and AGGREGATOR_BUCKET_DIR"},
		{"email channel", with(map[string]string{"ALERT_SMTP_URL": "smtp://u:smtp-Pa55@mail.example:587", "ALERT_EMAIL_FROM": "bw@example.com", "ALERT_EMAIL_TO": "a@example.com, b@example.com"}), ""},
		{"smtps channel", with(map[string]string{"ALERT_SMTP_URL": "smtps://mail.example", "ALERT_EMAIL_FROM": "bw@example.com", "ALERT_EMAIL_TO": "a@example.com"}), ""},
		{"smtp url scheme", with(map[string]string{"ALERT_SMTP_URL": "http://u:smtp-Pa55@mail.example", "ALERT_EMAIL_FROM": "bw@example.com", "ALERT_EMAIL_TO": "a@example.com"}), "ALERT_SMTP_URL:"},
		{"smtp without recipients", with(map[string]string{"ALERT_SMTP_URL": "smtp://u:smtp-Pa55@mail.example", "ALERT_EMAIL_FROM": "bw@example.com"}), "ALERT_EMAIL_TO:"},
		{"smtp without sender", with(map[string]string{"ALERT_SMTP_URL": "smtp://u:smtp-Pa55@mail.example", "ALERT_EMAIL_TO": "a@example.com"}), "ALERT_EMAIL_FROM:"},
		{"bad recipient", with(map[string]string{"ALERT_SMTP_URL": "smtp://mail.example", "ALERT_EMAIL_FROM": "bw@example.com", "ALERT_EMAIL_TO": "a@, b"}), "ALERT_EMAIL_TO:"},
		{"recipients without server", with(map[string]string{"ALERT_EMAIL_TO": "a@example.com"}), "ALERT_EMAIL_TO:  is set but ALERT_SMTP_URL is not"},
		{"telegram channel", with(map[string]string{"ALERT_TELEGRAM_BOT_TOKEN": "123456:tg-Secret-Token", "ALERT_TELEGRAM_CHAT_ID": "-100200300"}), ""},
		{"telegram without chat", with(map[string]string{"ALERT_TELEGRAM_BOT_TOKEN": "123456:tg-Secret-Token"}), "ALERT_TELEGRAM_CHAT_ID:"},
		{"telegram chat without token", with(map[string]string{"ALERT_TELEGRAM_CHAT_ID": "42"}), "ALERT_TELEGRAM_BOT_TOKEN:"},
		{"telegram bad token", with(map[string]string{"ALERT_TELEGRAM_BOT_TOKEN": "tg-Secret/Token", "ALERT_TELEGRAM_CHAT_ID": "42"}), "ALERT_TELEGRAM_BOT_TOKEN:"},
		{"telegram bad api url", with(map[string]string{"ALERT_TELEGRAM_BOT_TOKEN": "123456:tg-Secret-Token", "ALERT_TELEGRAM_CHAT_ID": "42", "ALERT_TELEGRAM_API_URL": "api.telegram.org"}), "ALERT_TELEGRAM_API_URL:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := load(c.env, options.Need{Bucket: true, Auth: true})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "local-only") {
				t.Errorf("the aggregator has no local-only mode, yet: %v", err)
			}
			for _, secret := range []string{"s3cr3t-value", "ftp://hooks.example/secret", string(hash), "smtp-Pa55", "tg-Secret"} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
				if strings.Contains(o.String(), secret) {
					t.Errorf("String() shows a secret: %s", o)
				}
			}
		})
	}
}

func TestExportNeedsNoCredentials(t *testing.T) {
	if _, err := load(map[string]string{"AGGREGATOR_BUCKET_DIR": "/x"}, options.Need{Bucket: true}); err != nil {
		t.Fatal(err)
	}
}

func TestDrillPeriodInDaysOrDuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "1d": 24 * time.Hour} {
		o, err := load(map[string]string{"AGGREGATOR_BUCKET_DIR": "/b", "AGGREGATOR_INSECURE_NO_AUTH": "true", "DRILL_PERIOD": v, "DRILL_GRACE": v}, options.Need{Bucket: true, Auth: true})
		if err != nil || o.DrillPeriod != want || o.DrillGrace != want {
			t.Errorf("%s: %v %v %v", v, o.DrillPeriod, o.DrillGrace, err)
		}
	}
}

func TestExpectedBranchesWithTags(t *testing.T) {
	cases := []struct {
		value    string
		expected []string
		tags     map[string][]string
		err      string
	}{
		{value: "powai, bandra", expected: []string{"powai", "bandra"}},
		{value: "powai:mumbai+premium,bandra:mumbai,koramangala", expected: []string{"powai", "bandra", "koramangala"},
			tags: map[string][]string{"powai": {"mumbai", "premium"}, "bandra": {"mumbai"}}},
		{value: "powai:mumbai+mumbai", expected: []string{"powai"}, tags: map[string][]string{"powai": {"mumbai"}}},
		{value: "powai:Mumbai", err: `tag "Mumbai" of branch powai`},
		{value: "powai:", err: `tag "" of branch powai`},
		{value: "powai:mumbai++west", err: `tag "" of branch powai`},
		{value: "Powai:mumbai", err: `branch id "Powai"`},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			o, err := load(map[string]string{"AGGREGATOR_BUCKET_DIR": "/srv/bucket", "EXPECTED_BRANCHES": c.value}, options.Need{Bucket: true})
			if c.err != "" {
				if err == nil {
					t.Fatalf("no error, want one naming EXPECTED_BRANCHES and %q", c.err)
				}
				var line string // the setting's line of the report
				for _, l := range strings.Split(err.Error(), "\n") {
					if strings.Contains(l, "EXPECTED_BRANCHES") {
						line = l
					}
				}
				if !strings.Contains(line, c.err) {
					t.Fatalf("error %q: no line names EXPECTED_BRANCHES with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(o.Expected, ",") != strings.Join(c.expected, ",") {
				t.Errorf("expected %v, want %v", o.Expected, c.expected)
			}
			if len(o.Tags) != len(c.tags) {
				t.Errorf("tags %v, want %v", o.Tags, c.tags)
			}
			for id, want := range c.tags {
				if strings.Join(o.Tags[id], "+") != strings.Join(want, "+") {
					t.Errorf("tags of %s = %v, want %v", id, o.Tags[id], want)
				}
			}
		})
	}
}
