package options

import (
	"strings"
	"testing"

	"github.com/robfig/cron/v3"

	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// Distinctive secrets: neither may ever appear in an error or in String.
const (
	fuzzS3Secret   = "s3-secret-Zq8Xw2Lp"
	fuzzDBPassword = "db-pass-Hn4Tr7Kc"
)

// FuzzLoad feeds arbitrary values to every agent setting. Load must not
// panic; what it accepts must be usable (a valid branch id, a zone, cron
// schedules that parse, minimums respected, the S3 settings complete);
// what it refuses must be refused with the variable's name; and neither
// the S3 secret key nor the database password may reach the error or
// Options.String, whatever surrounds them.
func FuzzLoad(f *testing.F) {
	type seed struct{ id, tz, num, sched, host, s3, misc string }
	for _, s := range []seed{
		{"branch-andheri", "Asia/Kolkata", "7", "45 21 * * *", "127.0.0.1:5432/salon", "https://s3.example.com", "info"},
		{"Branch_X", "Mars/Olympus", "-1", "61 25 * * *", "bad host:port/db", "ftp://x", "loud"},
		{"", "", "", "", "", "", ""},
		{"a", "UTC", "99999999999999999999", "@daily", "[::1]:5432/db?sslmode=disable", "http://127.0.0.1:9000", "debug"},
		{"-x-", "Local", "0", "* * * * * *", "host/db?password=" + fuzzDBPassword, "https://", "age1notakey"},
		{"ok", "../../etc/passwd", "1e3", "0 22 * * 7", "%zz/db", "https://b2.example.com/" + fuzzS3Secret, "http://ping"},
	} {
		f.Add(s.id, s.tz, s.num, s.sched, s.host, s.s3, s.misc)
	}
	f.Fuzz(func(t *testing.T, id, tz, num, sched, host, s3, misc string) {
		env := map[string]string{
			EnvDatabaseURL:          "postgres://branch:" + fuzzDBPassword + "@" + host,
			EnvBranchID:             id,
			EnvBranchName:           misc,
			EnvTimezone:             tz,
			EnvRetentionDays:        num,
			EnvCloudRetentionDays:   num,
			EnvCloudKeepNewest:      num,
			EnvMinDumpBytes:         num,
			EnvMetricsCatchupDays:   num,
			EnvSummaryCatchupDays:   num,
			EnvSummarySchedule:      sched,
			EnvBackupSchedule:       sched,
			EnvCleanupSchedule:      sched,
			EnvEncryptionRecipients: misc,
			EnvPingBackupURL:        misc,
			EnvLogLevel:             misc,
			EnvListen:               host,
			config.EnvS3Endpoint:    s3,
			config.EnvS3Bucket:      id,
			config.EnvS3AccessKey:   num,
			config.EnvS3SecretKey:   fuzzS3Secret,
			config.EnvS3Region:      tz,
		}
		o, err := Load(config.NewReader(config.MapLookup(env)), true)
		inputs := id + tz + num + sched + host + s3 + misc
		secrets := []string{fuzzS3Secret, fuzzDBPassword}
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, ":") {
				t.Fatalf("error names no variable: %q", msg)
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) && !strings.Contains(inputs, s) {
					t.Fatalf("a secret reached the error: %q", msg)
				}
			}
			return
		}
		for _, s := range secrets {
			if strings.Contains(o.String(), s) {
				t.Fatalf("a secret reached Options.String: %q", o.String())
			}
			if strings.Contains(o.RedactedDatabaseURL(), s) {
				t.Fatalf("the password reached the redacted URL: %q", o.RedactedDatabaseURL())
			}
		}
		if verr := layout.ValidateBranchID(o.BranchID); verr != nil {
			t.Fatalf("accepted branch id %q: %v", o.BranchID, verr)
		}
		if o.Location == nil {
			t.Fatal("accepted without a location")
		}
		if o.RetentionDays < 1 || o.CloudRetentionDays < 1 || o.CloudKeepNewest < 1 || o.MinDumpBytes < 1 ||
			o.MetricsCatchupDays < 0 || o.SummaryCatchupDays < 1 {
			t.Fatalf("accepted a number below its minimum: %+v", o)
		}
		for _, s := range []string{o.SummarySchedule, o.BackupSchedule, o.CleanupSchedule} {
			if _, cerr := cron.ParseStandard(s); cerr != nil {
				t.Fatalf("accepted schedule %q: %v", s, cerr)
			}
		}
		if o.S3Enabled && (o.S3.Endpoint == "" || o.S3.Bucket == "" || o.S3.AccessKey == "" || o.S3.SecretKey == "") {
			t.Fatalf("S3 enabled with a missing setting: %v", o.S3)
		}
		if o.S3Enabled && !strings.HasPrefix(o.S3.Endpoint, "http://") && !strings.HasPrefix(o.S3.Endpoint, "https://") {
			t.Fatalf("accepted endpoint %q", o.S3.Endpoint)
		}
		if o.BranchName == "" {
			t.Fatal("accepted an empty branch name")
		}
	})
}
