package options

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// Distinctive secrets: none may ever appear in an error or in String.
const (
	fuzzS3Secret   = "s3-secret-Pw3Nd8Qa"
	fuzzToken      = "token-secret-Jx5Vb2Rm"
	fuzzHookSecret = "hook-path-Tq9Ly6Gs"
)

// FuzzLoad feeds arbitrary values to every aggregator setting. Load must
// not panic; what it accepts must be usable (valid expected branch ids,
// intervals within their bounds, a listen address, credentials unless
// insecure mode was asked for); a refusal names the variable; and the S3
// secret key, the bearer token and the webhook URL's secret path never
// reach the error or Options.String.
func FuzzLoad(f *testing.F) {
	type seed struct{ listen, dur, num, list, clock, hook, user, flag string }
	for _, s := range []seed{
		{"127.0.0.1:8080", "5m", "16", "andheri,bandra", "21:45", "https://hooks.example.com/", "owner", "false"},
		{"nohostport", "-1s", "-3", "Bad_Branch,,", "25:61", "ftp://x/", "a:b", "maybe"},
		{"", "", "", "", "", "", "", ""},
		{":0", "500ms", "300", " , ,a-b", "7:5", "http:///", "", "true"},
		{"[::1]:99999", "1h", "1", "x,y,-z", "00:00", "%zz/", "owner", "1"},
	} {
		f.Add(s.listen, s.dur, s.num, s.list, s.clock, s.hook, s.user, s.flag)
	}
	f.Fuzz(func(t *testing.T, listen, dur, num, list, clock, hook, user, flag string) {
		env := map[string]string{
			EnvListen:             listen,
			EnvDataDir:            list,
			EnvRefreshInterval:    dur,
			EnvFullSyncInterval:   dur,
			EnvReminder:           dur,
			EnvMetricsGrace:       dur,
			EnvRelistDays:         num,
			EnvSyncConcurrency:    num,
			EnvTimezone:           clock,
			EnvExpected:           list,
			EnvMetricsExpected:    clock,
			EnvBackupExpected:     clock,
			EnvWebhookURL:         hook + fuzzHookSecret,
			EnvUser:               user,
			EnvPasswordBcrypt:     num,
			EnvToken:              user + fuzzToken,
			EnvInsecureNoAuth:     flag,
			EnvLogLevel:           flag,
			config.EnvS3Endpoint:  hook,
			config.EnvS3Bucket:    user,
			config.EnvS3AccessKey: num,
			config.EnvS3SecretKey: fuzzS3Secret,
		}
		o, err := Load(config.NewReader(config.MapLookup(env)), Need{Bucket: true, Auth: true})
		inputs := listen + dur + num + list + clock + hook + user + flag
		secrets := []string{fuzzS3Secret, fuzzToken, fuzzHookSecret}
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
		}
		for _, id := range o.Expected {
			if verr := layout.ValidateBranchID(id); verr != nil {
				t.Fatalf("accepted expected branch %q: %v", id, verr)
			}
		}
		if o.RefreshInterval < time.Second || o.FullSyncInterval < o.RefreshInterval {
			t.Fatalf("accepted intervals refresh=%s full=%s", o.RefreshInterval, o.FullSyncInterval)
		}
		if o.SyncConcurrency < 1 || o.SyncConcurrency > 256 || o.RelistDays < 1 {
			t.Fatalf("accepted concurrency %d, relist %d", o.SyncConcurrency, o.RelistDays)
		}
		if o.MetricsExpectedAt < 0 || o.MetricsExpectedAt >= 24*time.Hour || o.BackupExpectedAt < 0 || o.BackupExpectedAt >= 24*time.Hour {
			t.Fatalf("accepted times of day %s, %s", o.MetricsExpectedAt, o.BackupExpectedAt)
		}
		if _, _, serr := net.SplitHostPort(o.Listen); serr != nil {
			t.Fatalf("accepted listen address %q", o.Listen)
		}
		if !o.AuthConfigured() && !o.InsecureNoAuth {
			t.Fatal("accepted without credentials and without insecure mode")
		}
		if o.Location == nil || o.DataDir == "" {
			t.Fatalf("accepted location %v, data dir %q", o.Location, o.DataDir)
		}
		if o.S3Enabled == (o.BucketDir != "") {
			t.Fatalf("accepted S3=%v with bucket dir %q", o.S3Enabled, o.BucketDir)
		}
	})
}
