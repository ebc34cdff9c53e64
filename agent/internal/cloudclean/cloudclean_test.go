package cloudclean_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/cloudclean"
	"github.com/branchwatch/branchwatch/agent/internal/ledger"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const branch = "branch-andheri"

// b2Style refuses the batch DeleteObjects call without a checksum header,
// as Backblaze B2 does, and counts single deletes.
func b2Style(singleDeletes, batchRefused *atomic.Int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Query().Has("delete") &&
				r.Header.Get("Content-MD5") == "" && r.Header.Get("X-Amz-Checksum-Crc32") == "" {
				batchRefused.Add(1)
				http.Error(w, "<Error><Code>InvalidRequest</Code><Message>Missing required header for this request: Content-MD5</Message></Error>", http.StatusBadRequest)
				return
			}
			if r.Method == http.MethodDelete {
				singleDeletes.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// object is a stored test object: a dump of some age, confirmed or not.
type object struct {
	key       string
	confirmed bool
}

func dumpKey(t *testing.T, branch string, at time.Time, loc *time.Location) string {
	t.Helper()
	k, err := layout.BackupKey(branch, at.In(loc), false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// put stores o; a confirmed object is also recorded in the upload record
// of dir, as the agent's backup does after a confirmed upload.
func put(t *testing.T, st store.Store, dir string, o object) {
	t.Helper()
	data := []byte("dump " + o.key)
	sum := sha256.Sum256(data)
	meta := map[string]string{}
	if o.confirmed {
		meta[backup.MetaSHA256] = hex.EncodeToString(sum[:])
		meta[backup.MetaSize] = strconv.Itoa(len(data))
	}
	info, err := st.Put(context.Background(), o.key, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	if o.confirmed && dir != "" {
		if err := ledger.Record(dir, ledger.Entry{Key: o.key, SHA256: meta[backup.MetaSHA256], Size: info.Size, Uploaded: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloudRetention(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 7, 2, 0, 0, 0, loc) // a Sunday, 02:00
	day := func(n int) time.Time { return now.AddDate(0, 0, -n).Add(-4 * time.Hour) }

	cases := []struct {
		name      string
		retention int
		keep      int
		ages      []int          // days old of this branch's confirmed dumps
		unconf    []int          // days old of unconfirmed ones (no checksum metadata, not recorded): never deleted
		wantGone  func(int) bool // which confirmed ages are deleted
	}{
		{name: "old ones go, recent stay", retention: 90, keep: 3,
			ages: []int{1, 2, 3, 89, 91, 200}, unconf: []int{95},
			wantGone: func(a int) bool { return a > 90 }},
		{name: "newest three kept whatever their age", retention: 90, keep: 3,
			ages:     []int{100, 150, 200, 300, 400},
			wantGone: func(a int) bool { return a > 200 }},
		{name: "unconfirmed newest do not count as good", retention: 30, keep: 3,
			ages: []int{40, 50, 60, 70}, unconf: []int{31, 32},
			wantGone: func(a int) bool { return a > 60 }},
		{name: "keep newest set to one", retention: 7, keep: 1,
			ages:     []int{10, 20},
			wantGone: func(a int) bool { return a > 10 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var deletes, refused atomic.Int64
			srv := testenv.StartS3(t, testenv.WithMiddleware(b2Style(&deletes, &refused)))
			st := srv.Store(t)
			dir := t.TempDir()
			var wantLeft, wantDeleted []string
			var manifestsGone, manifestsLeft []string
			for _, a := range tc.ages {
				o := object{dumpKey(t, branch, day(a), loc), true}
				put(t, st, dir, o)
				m := object{o.key + layout.ManifestExt, false} // beside it, as the backup puts it
				put(t, st, "", m)
				if tc.wantGone(a) {
					wantDeleted = append(wantDeleted, o.key)
					manifestsGone = append(manifestsGone, m.key)
				} else {
					wantLeft = append(wantLeft, o.key)
					manifestsLeft = append(manifestsLeft, m.key)
				}
			}
			for _, a := range tc.unconf {
				o := object{dumpKey(t, branch, day(a), loc), false}
				put(t, st, dir, o)
				wantLeft = append(wantLeft, o.key)
			}
			// Never touched: other branches, other folders, names that do not parse.
			untouched := []string{
				dumpKey(t, "branch-bandra", day(400), loc),
				branch + "/metrics/2020-01-01.json",
				branch + "/backups/notes.txt",
				branch + "/backups/branch-bandra_20200101_220000.dump",
				branch + "/backups/old/" + branch + "_20200101_220000.dump",
			}
			for _, k := range untouched {
				put(t, st, dir, object{k, true})
			}

			o := options.Options{BranchID: branch, Location: loc, BackupDir: dir, CloudRetentionDays: tc.retention, CloudKeepNewest: tc.keep}
			res, err := cloudclean.Run(context.Background(), o, st, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			if res.Deleted != len(wantDeleted) || res.Kept != len(wantLeft) {
				t.Errorf("deleted %d kept %d, want %d and %d", res.Deleted, res.Kept, len(wantDeleted), len(wantLeft))
			}
			slices.Sort(wantDeleted)
			if got := slices.Sorted(slices.Values(res.DeletedKeys)); !slices.Equal(got, wantDeleted) {
				t.Errorf("deleted %v, want %v", got, wantDeleted)
			}
			var all []string
			for obj, err := range store.All(context.Background(), st, store.ListOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, obj.Key)
			}
			for _, k := range slices.Concat(wantLeft, untouched, manifestsLeft) {
				if !slices.Contains(all, k) {
					t.Errorf("%s was deleted", k)
				}
			}
			for _, k := range slices.Concat(wantDeleted, manifestsGone) {
				if slices.Contains(all, k) {
					t.Errorf("%s is still there", k)
				}
			}
			// One delete per dump and one for its manifest (missing or not).
			if refused.Load() != 0 || deletes.Load() != int64(2*len(wantDeleted)) {
				t.Errorf("%d batch deletes refused, %d single deletes: want 0 and %d", refused.Load(), deletes.Load(), 2*len(wantDeleted))
			}
		})
	}
}

func TestCloudRetentionLocalOnly(t *testing.T) {
	res, err := cloudclean.Run(context.Background(), options.Options{BranchID: branch, CloudRetentionDays: 90}, nil, nil, time.Now())
	if err != nil || res.Deleted != 0 {
		t.Fatalf("local-only sweep: %+v %v", res, err)
	}
}

func TestCloudRetentionReportsFailedDeletes(t *testing.T) {
	failDeletes := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				http.Error(w, "<Error><Code>AccessDenied</Code><Message>no delete</Message></Error>", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := testenv.StartS3(t, testenv.WithMiddleware(failDeletes))
	st := srv.Store(t)
	dir := t.TempDir()
	now := time.Date(2026, 6, 7, 2, 0, 0, 0, time.UTC)
	for _, a := range []int{1, 2, 3, 100, 200} {
		put(t, st, dir, object{dumpKey(t, branch, now.AddDate(0, 0, -a), time.UTC), true})
	}
	res, err := cloudclean.Run(context.Background(), options.Options{BranchID: branch, Location: time.UTC, BackupDir: dir, CloudRetentionDays: 90, CloudKeepNewest: 3}, st, nil, now)
	if err == nil || !strings.Contains(err.Error(), "2 of 2 deletions failed") {
		t.Fatalf("error %v, want both deletions reported", err)
	}
	if res.Deleted != 0 || res.Kept != 5 {
		t.Fatalf("%+v", res)
	}
}

// garbage stores an object this agent never uploaded under a dump key, with
// plausible metadata: a well-formed sha256 (of other bytes) and the right size.
func garbage(t *testing.T, st store.Store, key string) {
	t.Helper()
	data := []byte("not a dump at all, but sized and labelled like one " + key)
	other := sha256.Sum256([]byte("something else"))
	meta := map[string]string{backup.MetaSHA256: hex.EncodeToString(other[:]), backup.MetaSize: strconv.Itoa(len(data))}
	if _, err := st.Put(context.Background(), key, bytes.NewReader(data), store.PutOptions{Size: int64(len(data)), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

// TestGarbageIsNeitherCountedNorDeleted: three newer objects with plausible
// sha256/size metadata that the agent never uploaded do not take the place
// of the newest three good backups, and are not deleted either.
func TestGarbageIsNeitherCountedNorDeleted(t *testing.T) {
	var rec testenv.RequestLog
	srv := testenv.StartS3(t, testenv.WithMiddleware(rec.Middleware))
	st := srv.Store(t)
	dir := t.TempDir()
	now := time.Date(2026, 6, 7, 2, 0, 0, 0, time.UTC)
	var genuine, junk []string
	for _, a := range []int{100, 150, 200, 300, 400} {
		k := dumpKey(t, branch, now.AddDate(0, 0, -a), time.UTC)
		put(t, st, dir, object{k, true})
		genuine = append(genuine, k)
	}
	for _, a := range []int{1, 2, 3} {
		k := dumpKey(t, branch, now.AddDate(0, 0, -a), time.UTC)
		garbage(t, st, k)
		junk = append(junk, k)
	}
	o := options.Options{BranchID: branch, Location: time.UTC, BackupDir: dir, CloudRetentionDays: 90, CloudKeepNewest: 3}
	res, err := cloudclean.Run(context.Background(), o, st, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.KeptNewest, genuine[:3]) {
		t.Errorf("kept as newest good %v, want the three newest genuine %v", res.KeptNewest, genuine[:3])
	}
	if got := slices.Sorted(slices.Values(res.Unknown)); !slices.Equal(got, slices.Sorted(slices.Values(junk))) {
		t.Errorf("unknown %v, want the garbage %v", got, junk)
	}
	if got := slices.Sorted(slices.Values(res.DeletedKeys)); !slices.Equal(got, []string{genuine[4], genuine[3]}) {
		t.Errorf("deleted %v, want the two oldest genuine", got)
	}
	for _, k := range append(slices.Clone(junk), genuine[:3]...) {
		if _, err := st.Stat(context.Background(), k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	// One DELETE for each of the two dumps and one for its manifest.
	deletes := rec.Requests(func(r testenv.RecordedRequest) bool { return r.Method == http.MethodDelete })
	manifests := rec.Requests(func(r testenv.RecordedRequest) bool {
		return r.Method == http.MethodDelete && strings.HasSuffix(r.Path, layout.ManifestExt)
	})
	if len(deletes) != 4 || len(manifests) != 2 {
		t.Errorf("%d DELETE requests (%d of manifests), want 2 of dumps and 2 of their manifests", len(deletes), len(manifests))
	}
	l, err := ledger.Load(dir)
	if err != nil || len(l.Uploads) != 3 {
		t.Errorf("the record after deleting two of five: %+v %v", l, err)
	}
}

// TestBucketRetentionDeletesNothing: with BACKUP_CLOUD_RETENTION=bucket the
// sweep sends no DELETE (it works with a key that has no delete capability)
// and reports what the lifecycle rule removes, by the same selection.
func TestBucketRetentionDeletesNothing(t *testing.T) {
	var rec testenv.RequestLog
	noDelete := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete || r.Method == http.MethodPost && r.URL.Query().Has("delete") {
				http.Error(w, "<Error><Code>AccessDenied</Code><Message>key has no deleteFiles</Message></Error>", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := testenv.StartS3(t, testenv.WithMiddleware(rec.Middleware), testenv.WithMiddleware(noDelete))
	st := srv.Store(t)
	dir := t.TempDir()
	now := time.Date(2026, 6, 7, 2, 0, 0, 0, time.UTC)
	var keys []string
	for _, a := range []int{1, 2, 100, 150, 200, 300} {
		k := dumpKey(t, branch, now.AddDate(0, 0, -a), time.UTC)
		put(t, st, dir, object{k, true})
		keys = append(keys, k)
	}
	o := options.Options{BranchID: branch, Location: time.UTC, BackupDir: dir, CloudRetentionDays: 90, CloudKeepNewest: 3,
		CloudRetention: options.CloudRetentionBucket}
	res, err := cloudclean.Run(context.Background(), o, st, nil, now)
	if err != nil {
		t.Fatalf("bucket retention with a key that cannot delete: %v", err)
	}
	if got := slices.Sorted(slices.Values(res.Expiring)); !slices.Equal(got, []string{keys[5], keys[4], keys[3]}) {
		t.Errorf("expiring %v, want the three past retention beyond the newest three", got)
	}
	if !slices.Equal(res.ExpiringNewest, []string{keys[2]}) {
		t.Errorf("expiring newest %v, want %s (one of the newest three, past retention)", res.ExpiringNewest, keys[2])
	}
	if res.Deleted != 0 || len(res.DeletedKeys) != 0 || res.Kept != 6 {
		t.Errorf("%+v", res)
	}
	if m := rec.Methods(); m[http.MethodDelete] != 0 {
		t.Errorf("the server received %d DELETE requests", m[http.MethodDelete])
	}
	if n := len(rec.Requests(func(r testenv.RecordedRequest) bool {
		return r.Method == http.MethodPost && strings.Contains(r.RawQuery, "delete")
	})); n != 0 {
		t.Errorf("the server received %d batch deletes", n)
	}
}
