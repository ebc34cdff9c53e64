package options

import (
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/shared/config"
)

func TestLoad(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u:pw@127.0.0.1:5432/db?sslmode=disable"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		needDB  bool
		wantErr []string
		check   func(t *testing.T, o Options)
	}{
		{"defaults", base, true, nil, func(t *testing.T, o Options) {
			if o.BranchID != "default" || o.BranchName != "default" || o.Location.String() != "Asia/Kolkata" ||
				o.BackupDir != "/backups" || o.RetentionDays != 7 || o.CloudRetentionDays != 90 || o.S3.Region != "us-west-004" ||
				o.S3Enabled || o.SummarySchedule != "45 21 * * *" || o.BackupSchedule != "0 22 * * *" ||
				o.CleanupSchedule != "0 2 * * 0" || o.MetricsCatchupDays != 14 || o.Listen != "127.0.0.1:9187" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{"branch name defaults to the id", with("BRANCH_ID", "branch-andheri"), true, nil, func(t *testing.T, o Options) {
			if o.BranchName != "branch-andheri" {
				t.Errorf("BranchName = %q", o.BranchName)
			}
		}},
		{"listener off", with("AGENT_LISTEN", "off"), true, nil, func(t *testing.T, o Options) {
			if o.Listen != "" {
				t.Errorf("Listen = %q, want disabled", o.Listen)
			}
		}},
		{"database required", map[string]string{}, true, []string{"DATABASE_URL", "required"}, nil},
		{"database not needed for help", map[string]string{}, false, nil, nil},
		{"bad database url keeps the password out", with("DATABASE_URL", "postgres://u:s3cretpw@host:notaport/db"), true, []string{"DATABASE_URL"}, nil},
		{"bad branch id", with("BRANCH_ID", "Branch_1"), true, []string{"BRANCH_ID"}, nil},
		{"bad zone", with("BRANCH_TIMEZONE", "India/Mumbai"), true, []string{"BRANCH_TIMEZONE"}, nil},
		{"bad cron", with("BACKUP_SCHEDULE", "at ten"), true, []string{"BACKUP_SCHEDULE", "cron"}, nil},
		{"negative retention", with("BACKUP_RETENTION_DAYS", "-2"), true, []string{"BACKUP_RETENTION_DAYS"}, nil},
		{"partial s3", with("BACKUP_S3_BUCKET", "b"), true, []string{"BACKUP_S3_ENDPOINT", "BACKUP_S3_SECRET_KEY"}, nil},
		{"bucket without BRANCH_ID", with("BACKUP_S3_ENDPOINT", "https://s3.example", "BACKUP_S3_BUCKET", "b", "BACKUP_S3_ACCESS_KEY", "k", "BACKUP_S3_SECRET_KEY", "s"),
			true, []string{"BRANCH_ID", "must be set when a bucket is configured"}, nil},
		{"bucket with BRANCH_ID", with("BRANCH_ID", "branch-andheri", "BACKUP_S3_ENDPOINT", "https://s3.example", "BACKUP_S3_BUCKET", "b", "BACKUP_S3_ACCESS_KEY", "k", "BACKUP_S3_SECRET_KEY", "s"),
			true, nil, func(t *testing.T, o Options) {
				if !o.S3Enabled || o.BranchID != "branch-andheri" {
					t.Errorf("S3Enabled %v, BranchID %q", o.S3Enabled, o.BranchID)
				}
			}},
		{"password with reserved characters", with("DATABASE_URL", "postgres://u:s3cretpw#x/y@host/db"), true, []string{"DATABASE_URL", "percent-encode"}, nil},
		{"bad age recipient", with("BACKUP_ENCRYPTION_RECIPIENTS", "age1notakey"), true, []string{"BACKUP_ENCRYPTION_RECIPIENTS"}, nil},
		{"bad ping url", with("HEALTHCHECK_BACKUP_URL", "ftp://x"), true, []string{"HEALTHCHECK_BACKUP_URL"}, nil},
		{"cloud retention by the bucket", with(s3Env("BACKUP_CLOUD_RETENTION", "bucket")...), true, nil, func(t *testing.T, o Options) {
			if o.CloudRetention != CloudRetentionBucket || o.ObjectLockDays != 0 {
				t.Errorf("CloudRetention = %q, ObjectLockDays = %d", o.CloudRetention, o.ObjectLockDays)
			}
		}},
		{"cloud retention defaults to the agent", base, true, nil, func(t *testing.T, o Options) {
			if o.CloudRetention != CloudRetentionAgent || o.ObjectLockMode != ObjectLockCompliance {
				t.Errorf("CloudRetention = %q, ObjectLockMode = %q", o.CloudRetention, o.ObjectLockMode)
			}
		}},
		{"bad cloud retention", with("BACKUP_CLOUD_RETENTION", "lifecycle"), true, []string{"BACKUP_CLOUD_RETENTION", "lifecycle"}, nil},
		{"object lock", with(s3Env("BACKUP_S3_OBJECT_LOCK_DAYS", "90", "BACKUP_S3_OBJECT_LOCK_MODE", "governance")...), true, nil, func(t *testing.T, o Options) {
			if o.ObjectLockDays != 90 || o.ObjectLockMode != ObjectLockGovernance {
				t.Errorf("lock = %d %q", o.ObjectLockDays, o.ObjectLockMode)
			}
		}},
		{"bad object lock mode", with(s3Env("BACKUP_S3_OBJECT_LOCK_DAYS", "90", "BACKUP_S3_OBJECT_LOCK_MODE", "LEGAL")...), true, []string{"BACKUP_S3_OBJECT_LOCK_MODE", "COMPLIANCE"}, nil},
		{"object lock days not a number", with(s3Env("BACKUP_S3_OBJECT_LOCK_DAYS", "ninety")...), true, []string{"BACKUP_S3_OBJECT_LOCK_DAYS"}, nil},
		{"object lock mode without days", with(s3Env("BACKUP_S3_OBJECT_LOCK_MODE", "GOVERNANCE")...), true, []string{"BACKUP_S3_OBJECT_LOCK_MODE", "BACKUP_S3_OBJECT_LOCK_DAYS"}, nil},
		{"object lock without a bucket", with("BACKUP_S3_OBJECT_LOCK_DAYS", "30"), true, []string{"BACKUP_S3_OBJECT_LOCK_DAYS", "no bucket"}, nil},
		{"missing query file", with("METRICS_QUERY_FILE", "/nonexistent/q.sql"), true, []string{"METRICS_QUERY_FILE"}, nil},
		{"drills weekly by default", base, true, nil, func(t *testing.T, o Options) {
			if o.VerifySchedule != "0 3 * * 0" || o.VerifyDatabaseURL != "" || o.VerifyIdentities != nil || o.VerifyCountMaxRows != DefaultVerifyCountMaxRows {
				t.Errorf("verify defaults: %q %q %v %d", o.VerifySchedule, o.VerifyDatabaseURL, o.VerifyIdentities, o.VerifyCountMaxRows)
			}
		}},
		{"drills off", with("VERIFY_SCHEDULE", "off"), true, nil, func(t *testing.T, o Options) {
			if o.VerifySchedule != "" {
				t.Errorf("VerifySchedule = %q, want disabled", o.VerifySchedule)
			}
		}},
		{"identity file read", with("VERIFY_IDENTITY_FILE", "testdata/identity.txt"), true, nil, func(t *testing.T, o Options) {
			if len(o.VerifyIdentities) != 1 {
				t.Errorf("%d identities", len(o.VerifyIdentities))
			}
		}},
		{"bad verify cron", with("VERIFY_SCHEDULE", "weekly"), true, []string{"VERIFY_SCHEDULE", "cron"}, nil},
		{"bad verify database keeps the password out", with("VERIFY_DATABASE_URL", "s3cretpw@host/db"), true, []string{"VERIFY_DATABASE_URL"}, nil},
		{"missing identity file", with("VERIFY_IDENTITY_FILE", "/nonexistent/key.txt"), true, []string{"VERIFY_IDENTITY_FILE"}, nil},
		{"identity file without a key", with("VERIFY_IDENTITY_FILE", "options_test.go"), true, []string{"VERIFY_IDENTITY_FILE", "no age identity"}, nil},
		{"negative count limit", with("VERIFY_COUNT_MAX_ROWS", "-1"), true, []string{"VERIFY_COUNT_MAX_ROWS"}, nil},
		{"bad verify ping url", with("HEALTHCHECK_VERIFY_URL", "hc-ping.com/x"), true, []string{"HEALTHCHECK_VERIFY_URL"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Load(config.NewReader(config.MapLookup(tc.env)), tc.needDB)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, o)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %v", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cretpw") || strings.Contains(err.Error(), "pw@") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// s3Env is the four S3 settings (and BRANCH_ID) followed by kv.
func s3Env(kv ...string) []string {
	return append([]string{"BRANCH_ID", "branch-x", "BACKUP_S3_ENDPOINT", "http://127.0.0.1:9", "BACKUP_S3_BUCKET", "b",
		"BACKUP_S3_ACCESS_KEY", "k", "BACKUP_S3_SECRET_KEY", "s"}, kv...)
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("postgres://salon:hunter2@db:5432/salon?sslmode=disable&password=x2")
	if strings.Contains(got, "hunter2") || strings.Contains(got, "x2") {
		t.Fatalf("RedactURL = %q", got)
	}
}
