package security_test

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/branchwatch/branchwatch/agent/internal/backup/backuptest"
	"github.com/branchwatch/branchwatch/agent/internal/ledger"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestAgentOnVersity runs every job of the agent on a real S3 server set up
// as production: the branch's key is limited by the bucket policy to
// "branch-x/", signatures and the region are checked, and every request
// goes through a recorder that holds it to the B2 profile. A small backup
// goes up in one PUT, a large one as a multipart upload; the latest
// restores to the same rows; metrics are pushed; cleanup deletes. Nothing
// is refused and the neighbours stay as they were.
func TestAgentOnVersity(t *testing.T) {
	pg, _, dbURL := backuptest.NewBranchDB(t, 300)
	srv := testenv.StartRealS3(t)
	b := srv.ProductionBucket(t, []string{restrictedBranch, "branch-y"})
	bucket, x, agg := b.Name, b.Branch[restrictedBranch], b.Aggregator
	root := srv.Store(t, bucket, srv.Root)
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	neighbour, _ := layout.BackupKey("branch-y", time.Date(2026, 1, 2, 22, 0, 0, 0, ist), false)
	put(t, root, neighbour, []byte("PGDMP the neighbour's dump"), confirmedMeta([]byte("PGDMP the neighbour's dump")))
	// Old backups of our own in the agent's upload record: cleanup deletes them.
	dir := t.TempDir()
	for d := range 4 {
		key, _ := layout.BackupKey(restrictedBranch, time.Date(2025, 6, 1+d, 22, 0, 0, 0, ist), false)
		body := []byte("PGDMP an old dump " + string(rune('a'+d)))
		put(t, root, key, body, confirmedMeta(body))
		sum := sha256.Sum256(body)
		if err := ledger.Record(dir, ledger.Entry{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)),
			Uploaded: time.Date(2025, 6, 1+d, 22, 5, 0, 0, ist)}); err != nil {
			t.Fatal(err)
		}
	}

	rec := testenv.RecordB2(t, srv)
	env := backuptest.Env(dbURL, dir, nil)
	maps.Copy(env, srv.Env(bucket, x))
	env["BACKUP_S3_ENDPOINT"] = rec.Endpoint
	env[options.EnvBranchID] = restrictedBranch
	env[options.EnvMetricsCatchupDays] = "3"
	target := pg.URL(pg.CreateDatabase(t))
	yesterday := time.Now().In(ist).AddDate(0, 0, -1).Format(layout.DateFormat)

	jobs := []struct {
		name  string
		setup func()
		extra map[string]string
		args  []string
		out   *regexp.Regexp
	}{
		{"small backup", nil, nil, []string{"backup"}, regexp.MustCompile(`uploaded to branch-x/backups/branch-x_`)},
		{"multipart backup", func() {
			backuptest.AddBulk(t, dbURL, 12) // a dump above one 8 MiB part
			time.Sleep(time.Second)          // a new name: dumps are named to the second
		}, nil, []string{"backup"}, regexp.MustCompile(`uploaded to branch-x/backups/branch-x_`)},
		{"cleanup", nil, nil, []string{"cleanup"}, regexp.MustCompile(`cleanup: [1-9]\d* deleted`)},
		// On a replacement machine: no local dumps, so it downloads.
		{"restore the latest from the bucket", nil, map[string]string{"RESTORE_TARGET_URL": target, options.EnvBackupDir: t.TempDir()},
			[]string{"restore", "--latest"}, regexp.MustCompile(`restored branch-x_`)},
		{"verify", nil, nil, []string{"verify"}, regexp.MustCompile(`verify ok`)},
		{"push-metrics", nil, nil, []string{"push-metrics", "--date", yesterday}, nil},
		{"catchup", nil, nil, []string{"catchup"}, nil},
	}
	for _, j := range jobs {
		if j.setup != nil {
			j.setup()
		}
		before := len(rec.Requests())
		res := runAgent(t, env, j.extra, j.args...)
		if res.code != 0 {
			t.Fatalf("agent %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(j.args, " "), res.code, res.stdout, res.stderr)
		}
		if j.out != nil && !j.out.MatchString(res.stdout) {
			t.Errorf("agent %s printed %q, want %s", j.name, res.stdout, j.out)
		}
		for _, q := range rec.Requests()[before:] {
			if q.Status == http.StatusForbidden {
				t.Errorf("%s: %s %s (%s) was refused", j.name, q.Method, q.Path, q.Op)
			}
		}
	}
	backuptest.SameRows(t, backuptest.Snapshot(t, target), backuptest.Snapshot(t, dbURL))
	rec.CheckProfile(t, testenv.OpPutObject, testenv.OpCreateMultipart, testenv.OpUploadPart, testenv.OpCompleteMultipart,
		testenv.OpListObjectsV2, testenv.OpGetObject, testenv.OpHeadObject, testenv.OpDeleteObject)

	// The pushed document is there for the aggregator's read-only key.
	mkey, _ := layout.MetricsKey(restrictedBranch, mustDate(t, yesterday))
	if _, err := srv.Store(t, bucket, agg).Stat(t.Context(), mkey); err != nil {
		t.Errorf("pushed metrics %s: %v", mkey, err)
	}
	if _, err := root.Stat(t.Context(), neighbour); err != nil {
		t.Errorf("the neighbour's dump: %v", err)
	}
	if ours := keysUnder(t, root, restrictedBranch+"/backups/"); len(ours) == 0 {
		t.Error("no backup of the branch left in the bucket")
	}
}

func mustDate(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := layout.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAgentAppendOnlyOnVersity: the append-only set-up (a bucket with
// object lock, BACKUP_S3_OBJECT_LOCK_DAYS, BACKUP_CLOUD_RETENTION=bucket) on
// the real server. A single-part and a multipart backup are accepted with
// their lock (the server checks each body's Content-MD5), every request
// stays inside the B2 profile, cleanup sends no delete, and the stored
// versions are locked: not even the root key can delete them.
func TestAgentAppendOnlyOnVersity(t *testing.T) {
	_, _, dbURL := backuptest.NewBranchDB(t, 300)
	srv := testenv.StartRealS3(t)
	b := srv.ProductionBucket(t, []string{restrictedBranch}, testenv.WithObjectLock())
	rec := testenv.RecordB2(t, srv)
	env := backuptest.Env(dbURL, t.TempDir(), nil)
	maps.Copy(env, srv.Env(b.Name, b.Branch[restrictedBranch]))
	env["BACKUP_S3_ENDPOINT"] = rec.Endpoint
	env[options.EnvBranchID] = restrictedBranch
	env[options.EnvObjectLockDays] = "30"
	env[options.EnvCloudRetention] = "bucket"
	before := time.Now()
	for i, args := range [][]string{{"backup"}, {"backup"}, {"cleanup"}} {
		if i == 1 {
			backuptest.AddBulk(t, dbURL, 12) // a multipart upload
			time.Sleep(time.Second)
		}
		if res := runAgent(t, env, nil, args...); res.code != 0 {
			t.Fatalf("agent %s: exit %d\nstdout: %s\nstderr: %s", args[0], res.code, res.stdout, res.stderr)
		}
	}
	for _, q := range rec.Requests() {
		if q.Status >= 400 {
			t.Errorf("%s %s (%s): status %d", q.Method, q.Path, q.Op, q.Status)
		}
	}
	rec.CheckProfile(t, testenv.OpPutObject, testenv.OpCreateMultipart, testenv.OpUploadPart, testenv.OpCompleteMultipart)
	if n := rec.Ops()[testenv.OpDeleteObject]; n != 0 {
		t.Errorf("%d DeleteObject requests with BACKUP_CLOUD_RETENTION=bucket", n)
	}

	root := srv.Store(t, b.Name, srv.Root).Client()
	var dumps []string // the dumps, not the manifests beside them
	for _, k := range keysUnder(t, srv.Store(t, b.Name, srv.Root), restrictedBranch+"/backups/") {
		if strings.HasSuffix(k, ".dump") {
			dumps = append(dumps, k)
		}
	}
	if len(dumps) != 2 {
		t.Fatalf("dumps in the bucket: %v, want 2", dumps)
	}
	for _, key := range dumps {
		ret, err := root.GetObjectRetention(t.Context(), &s3.GetObjectRetentionInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("retention of %s: %v", key, err)
		}
		until := aws.ToTime(ret.Retention.RetainUntilDate)
		if ret.Retention.Mode != s3types.ObjectLockRetentionModeCompliance || until.Before(before.Add(30*24*time.Hour-time.Minute)) {
			t.Errorf("%s: retention %s until %s, want COMPLIANCE for 30 days", key, ret.Retention.Mode, until)
		}
		head, err := root.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = root.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key), VersionId: head.VersionId})
		if err == nil || !strings.Contains(err.Error(), "object lock") {
			t.Errorf("%s: deleting the locked version %q: %v, want a refusal for the object lock", key, aws.ToString(head.VersionId), err)
		}
	}
}
