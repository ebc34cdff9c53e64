package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// branchesAnswer is the part of /api/v1/branches these tests read.
type branchesAnswer struct {
	Branches []struct {
		ID              string `json:"id"`
		LastMetricsDate string `json:"last_metrics_date"`
		BadDocuments    int    `json:"bad_documents"`
		LastBackup      *struct {
			Name string `json:"name"`
		} `json:"last_backup"`
		Metrics     checkAnswer `json:"metrics_check"`
		Backup      checkAnswer `json:"backup_check"`
		FutureDated checkAnswer `json:"future_dated_check"`
		Future      []struct {
			Key, Kind, Date string
		} `json:"future_dated_objects"`
	} `json:"branches"`
	Sync struct {
		Full      bool `json:"-"`
		LastStats struct {
			Full bool `json:"Full"`
		} `json:"last_stats"`
	} `json:"sync"`
}

type checkAnswer struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	Due    string `json:"due"`
}

func branchesOf(t *testing.T, url string) branchesAnswer {
	t.Helper()
	resp, body := get(t, url+"/api/v1/branches", bearer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/branches: %s: %s", resp.Status, body)
	}
	var a branchesAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return a
}

// TestYear9999IsBadInput: a valid document at evil/metrics/9999-12-31.json
// and a dump named x_99991231_235959.dump once made /api/v1/branches
// answer 500 (the next due time fell in year 10000). Both are now bad
// documents with a reason, and every route answers.
func TestYear9999IsBadInput(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	seed(t, st)
	evil := fixture.Doc("evil", "2026-02-16", 1)
	evil.SummaryDate, evil.GeneratedAt = "9999-12-31", "9999-12-31T21:45:00+05:30"
	b, err := evil.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	fixture.Put(t, st, "evil/metrics/9999-12-31.json", b, nil)
	fixture.Put(t, st, "x/backups/x_99991231_235959.dump", []byte("PGDMP"), nil)
	r := start(t, st, nil, app.Config{})

	a := branchesOf(t, r.URL)
	bad := map[string]int{}
	for _, b := range a.Branches {
		bad[b.ID] = b.BadDocuments
	}
	if bad["evil"] != 1 || bad["x"] != 1 {
		t.Errorf("bad documents per branch = %v, want evil 1 and x 1", bad)
	}
	resp, body := get(t, r.URL+"/api/v1/bad-documents", bearer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bad-documents: %s", resp.Status)
	}
	var list struct {
		Bad []struct{ Key, Reason string } `json:"bad_documents"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, d := range list.Bad {
		reasons[d.Key] = d.Reason
	}
	for key, want := range map[string]string{
		"evil/metrics/9999-12-31.json":     "year outside 1970-2999",
		"x/backups/x_99991231_235959.dump": "year 9999 is outside 1970-2999",
	} {
		if !strings.Contains(reasons[key], want) {
			t.Errorf("reason for %s = %q, want it to say %q (all: %v)", key, reasons[key], want, reasons)
		}
	}
	// A range's end beyond the accepted years still means "open-ended".
	for _, path := range []string{"/api/v1/branches/evil", "/api/v1/branches/x", "/api/v1/alerts", "/api/v1/sync", "/metrics",
		"/api/v1/metrics?from=2026-01-01&to=9999-12-31", "/export.csv?from=2026-02-12&to=9999-12-31"} {
		if resp, body := get(t, r.URL+path, bearer); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s: %s", path, resp.Status, body)
		}
	}
}

// TestFutureDatedObjects: a document and a dump dated 2031 (an agent
// under a clock that jumped ahead) are flagged on the branch with an
// alert of their own; the branch's freshness ignores them, and the quick
// refresh still finds the real documents and dumps that follow.
func TestFutureDatedObjects(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	seed(t, st) // andheri: documents 2026-02-12..16, dumps at 22:00 each day
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2031-01-01", 9))
	fixture.PutBackup(t, st, "andheri", time.Date(2031, 1, 1, 22, 0, 0, 0, time.UTC), 5000)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	r := start(t, st, map[string]string{options.EnvFullSyncInterval: "240h"}, app.Config{
		Now: func() time.Time { return *clock.Load() },
	})
	settled(t, r)

	andheri := func() (branchesAnswer, int) {
		a := branchesOf(t, r.URL)
		for i, b := range a.Branches {
			if b.ID == "andheri" {
				return a, i
			}
		}
		t.Fatalf("no andheri in %+v", a.Branches)
		return a, 0
	}
	a, i := andheri()
	b := a.Branches[i]
	if b.FutureDated.State != "down" || len(b.Future) != 2 || !strings.Contains(b.FutureDated.Reason, "2 objects dated more than one day past") {
		t.Errorf("future-dated check = %+v, objects %+v", b.FutureDated, b.Future)
	}
	if b.Metrics.State != "up" || b.LastMetricsDate != "2026-02-16" || strings.Contains(b.Metrics.Reason, "2031") {
		t.Errorf("metrics check judged the future document: %+v (last %s)", b.Metrics, b.LastMetricsDate)
	}
	if b.Backup.State != "up" || b.LastBackup == nil || !strings.Contains(b.LastBackup.Name, "20260216") || strings.Contains(b.Backup.Due, "2031") {
		t.Errorf("backup check judged the future dump: %+v (last %+v)", b.Backup, b.LastBackup)
	}
	if n := countAlerts(r.App.Notifier.History(), "andheri", "future-dated", alert.KindDown); n != 1 {
		t.Errorf("future-dated down alerts = %d, want 1: %+v", n, r.App.Notifier.History())
	}

	// The next day's real document and dump arrive; a quick refresh (not
	// a full one) must see them although 2031 sorts after them.
	fixture.PutDoc(t, st, fixture.Doc("andheri", "2026-02-17", 10))
	fixture.PutBackup(t, st, "andheri", time.Date(2026, 2, 17, 22, 0, 5, 0, time.UTC), 5000)
	later := time.Date(2026, 2, 18, 9, 0, 0, 0, fixture.IST)
	clock.Store(&later)
	if err := r.App.Service.RefreshIncremental(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.App.Service.LastSync().LastStats; st.Full {
		t.Fatalf("the refresh was a full sync: %+v", st)
	}
	a, i = andheri()
	b = a.Branches[i]
	if b.LastMetricsDate != "2026-02-17" || b.Metrics.State != "up" {
		t.Errorf("after the quick refresh: metrics %+v, last %s; want 2026-02-17 up", b.Metrics, b.LastMetricsDate)
	}
	if b.LastBackup == nil || !strings.Contains(b.LastBackup.Name, "20260217") || b.Backup.State != "up" {
		t.Errorf("after the quick refresh: backup %+v, last %+v; want the 2026-02-17 dump", b.Backup, b.LastBackup)
	}
	if b.FutureDated.State != "down" {
		t.Errorf("future-dated check = %+v, still want down", b.FutureDated)
	}

	// Removed from the bucket: the check recovers, with one recovery alert.
	for _, k := range []string{fixture.MetricsKey("andheri", "2031-01-01"), fixture.BackupKey("andheri", time.Date(2031, 1, 1, 22, 0, 0, 0, time.UTC))} {
		if err := st.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.App.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, i = andheri()
	if b := a.Branches[i]; b.FutureDated.State != "up" || len(b.Future) != 0 {
		t.Errorf("after removal: %+v %+v", b.FutureDated, b.Future)
	}
	h := r.App.Notifier.History()
	if countAlerts(h, "andheri", "future-dated", alert.KindDown) != 1 || countAlerts(h, "andheri", "future-dated", alert.KindRecovered) != 1 {
		t.Errorf("want one down and one recovered future-dated alert: %+v", h)
	}
}

func countAlerts(h []alert.Record, branch, check string, kind alert.Kind) int {
	n := 0
	for _, r := range h {
		if r.Branch == branch && r.Check == check && r.Kind == kind {
			n++
		}
	}
	return n
}
