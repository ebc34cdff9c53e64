package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestAggregatorOnVersity runs the aggregator on a real S3 server set up
// as production: each branch wrote its objects with its own key (limited
// by the bucket policy to its prefix), and the aggregator reads with a
// read-only key through a recorder that holds every request to the B2
// profile. It syncs, renders the dashboard, and hands out a presigned
// download that fetches the dump.
func TestAggregatorOnVersity(t *testing.T) {
	srv := testenv.StartRealS3(t)
	b := srv.ProductionBucket(t, []string{"andheri", "bandra"})
	bucket, aggKey := b.Name, b.Aggregator
	var dump string
	for branch, key := range b.Branch {
		st := srv.Store(t, bucket, key)
		for d := range 5 {
			fixture.PutDoc(t, st, fixture.Doc(branch, fixture.Date("2026-02-12", d), int64(d)))
		}
		k := fixture.PutBackup(t, st, branch, time.Date(2026, 2, 16, 22, 0, 5, 0, fixture.IST), 70_000)
		if branch == "andheri" {
			dump = k
		}
	}

	rec := testenv.RecordB2(t, srv)
	o := srv.Options(bucket, aggKey)
	o.Endpoint = rec.Endpoint
	st, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, st, nil, app.Config{Routes: []app.RouteBuilder{dashboard.Routes}})

	resp, body := get(t, r.URL+"/", basic)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
	}
	for _, name := range []string{"Salon Andheri", "Salon Bandra"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
	resp, body = get(t, r.URL+"/api/v1/branches/bandra", basic)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"documents":5`) {
		t.Errorf("bandra after the sync: %d %.300s", resp.StatusCode, body)
	}

	// The download is a presigned URL of the aggregator's key.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	name := dump[strings.LastIndex(dump, "/")+1:]
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/api/v1/branches/andheri/backups/"+name+"/download", nil)
	basic(req)
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, rec.Endpoint+"/"+bucket+"/"+dump+"?") {
		t.Fatalf("download: %d to %q", resp.StatusCode, loc)
	}
	dl, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if dl.StatusCode != http.StatusOK || len(got) != 70_000 {
		t.Fatalf("presigned GET: %d, %d bytes", dl.StatusCode, len(got))
	}

	// The aggregator's key reads and lists, and cannot write.
	_, err = st.Put(t.Context(), "andheri/backups/x.dump", strings.NewReader("x"), store.PutOptions{Size: 1})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("a put with the aggregator's key: %v, want AccessDenied", err)
	}
	var refused []string
	for _, q := range rec.Requests() {
		if q.Status == http.StatusForbidden && q.Op != testenv.OpPutObject {
			refused = append(refused, q.Method+" "+q.Path)
		}
	}
	if len(refused) > 0 {
		t.Errorf("the aggregator was refused: %v", refused)
	}
	rec.CheckProfile(t, testenv.OpListObjectsV2, testenv.OpGetObject, testenv.OpPresignedGetObject)
}
