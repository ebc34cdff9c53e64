package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestTwoAgentsOnOneBranch: two agents with one BRANCH_ID overwrite each
// other. Their instance ids, in the metadata of the metrics documents
// (read from each document's GET) and of the newest dump (its HEAD),
// raise the branch's instances check, shown in the API, on the branch
// page and on /metrics, and alerted once. Ids older than 7 days (a
// replaced server) and objects without ids do not count.
func TestTwoAgentsOnOneBranch(t *testing.T) {
	const a, b, old = "pos-1/0123456789abcdef", "pos-2/fedcba9876543210", "old-pos/00000000000000aa"
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	putDoc := func(branch, date, id string) {
		fixture.Put(t, st, fixture.MetricsKey(branch, date), fixture.Encode(fixture.Doc(branch, date, 1)), map[string]string{instance.MetadataKey: id})
	}
	putDump := func(branch string, at time.Time, id string) {
		fixture.Put(t, st, fixture.BackupKey(branch, at), []byte(strings.Repeat("P", 5000)),
			map[string]string{"sha256": fmt.Sprintf("%064x", 5000), instance.MetadataKey: id})
	}
	for d := range 5 {
		date := fixture.Date("2026-02-12", d)
		day, _ := time.Parse("2006-01-02", date)
		at := time.Date(day.Year(), day.Month(), day.Day(), 22, 0, 5, 0, time.UTC)
		// andheri: documents by a, then by b from the 15th.
		putDoc("andheri", date, map[bool]string{true: a, false: b}[d < 3])
		// bandra: every document by a, the dumps by b.
		putDoc("bandra", date, a)
		putDump("bandra", at, b)
		// colaba: a now, old-pos two weeks before; juhu: no ids at all.
		putDoc("colaba", date, a)
		fixture.PutDoc(t, st, fixture.Doc("juhu", date, 1))
	}
	putDoc("colaba", "2026-01-30", old)
	r := start(t, st, nil, app.Config{Routes: []app.RouteBuilder{dashboard.Routes}})
	settled(t, r)

	type answer struct {
		State, Reason string
	}
	got := map[string]answer{}
	resp, body := get(t, r.URL+"/api/v1/branches", bearer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	var list struct {
		Branches []struct {
			ID        string `json:"id"`
			Instances answer `json:"instances_check"`
		} `json:"branches"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, br := range list.Branches {
		got[br.ID] = br.Instances
	}
	for branch, want := range map[string]struct {
		state string
		ids   []string
	}{
		"andheri": {"down", []string{a, b}},
		"bandra":  {"down", []string{a, b}},
		"colaba":  {"up", []string{a}},
		"juhu":    {"up", nil},
	} {
		c := got[branch]
		if c.State != want.state {
			t.Errorf("%s: instances check %+v, want %s", branch, c, want.state)
		}
		for _, id := range want.ids {
			if !strings.Contains(c.Reason, id) {
				t.Errorf("%s: reason %q does not name %s", branch, c.Reason, id)
			}
		}
		if strings.Contains(c.Reason, old) {
			t.Errorf("%s: reason %q names the instance of two weeks ago", branch, c.Reason)
		}
	}

	// The branch page says so; a branch with one agent does not.
	for branch, want := range map[string]bool{"andheri": true, "colaba": false} {
		resp, body := get(t, r.URL+"/branches/"+branch, basic)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/branches/%s: %s", branch, resp.Status)
		}
		html := string(body)
		if has := strings.Contains(html, `data-testid="instances"`); has != want {
			t.Errorf("/branches/%s: instances banner shown %v, want %v", branch, has, want)
		}
		if want && (!strings.Contains(html, a) || !strings.Contains(html, b)) {
			t.Errorf("/branches/%s: the banner does not name both instances", branch)
		}
	}

	resp, body = get(t, r.URL+"/metrics", bearer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	for _, line := range []string{`branchwatch_check_up{branch="andheri",check="instances"} 0`, `branchwatch_check_up{branch="colaba",check="instances"} 1`} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	h := r.App.Notifier.History()
	for branch, want := range map[string]int{"andheri": 1, "bandra": 1, "colaba": 0, "juhu": 0} {
		if n := countAlerts(h, branch, "instances", alert.KindDown); n != want {
			t.Errorf("%s: %d instances alerts, want %d", branch, n, want)
		}
	}
}
