package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// TestProofOverHTTP: drills and an agent status in the bucket reach the
// API (snake_case, RFC 3339), Prometheus, the branch page and the
// deployments page.
func TestProofOverHTTP(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	n := int64(600)
	for i, ok := range []bool{true, false} {
		at := time.Date(2026, 2, 8+7*i, 3, 0, 0, 0, fixture.IST)
		r := drill.Record{SchemaVersion: 1, BranchID: "bandra", DrilledAt: at.Format(time.RFC3339), OK: ok, DurationMS: 1500,
			BackupKey: fixture.BackupKey("bandra", at.Add(-5*time.Hour)), BackupSHA256: strings.Repeat("ab", 32),
			Tables: map[string]drill.Table{"public.bills": {Expected: &n, Restored: &n}}}
		if !ok {
			r.Error = "public.bills: restored 599 rows, the manifest says 600"
		}
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		key, _ := layout.DrillKey("bandra", at)
		fixture.Put(t, st, key, b, nil)
	}
	s := agentstatus.New("andheri", "1.4.0", now.Add(-time.Hour), nil)
	b, _ := s.Marshal()
	key, _ := layout.AgentStatusKey("andheri")
	fixture.Put(t, st, key, b, nil)
	r := start(t, st, nil, app.Config{Routes: []app.RouteBuilder{dashboard.Routes}})

	_, body := get(t, r.URL+"/api/v1/branches/bandra/drills", bearer)
	var drills struct {
		Check struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"drill_check"`
		Drills []struct {
			Date      string `json:"date"`
			DrilledAt string `json:"drilled_at"`
			OK        bool   `json:"ok"`
			Error     string `json:"error"`
			Rows      int64  `json:"rows"`
		} `json:"drills"`
	}
	if err := json.Unmarshal(body, &drills); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if drills.Check.State != "down" || !strings.Contains(drills.Check.Reason, "restored 599 rows") || len(drills.Drills) != 2 ||
		drills.Drills[0].DrilledAt != "2026-02-15T03:00:00+05:30" || drills.Drills[0].OK || drills.Drills[1].Rows != 600 {
		t.Errorf("drills: %s", body)
	}
	_, body = get(t, r.URL+"/api/v1/branches/andheri/agent", bearer)
	if !strings.Contains(string(body), `"agent_version":"1.4.0"`) || !strings.Contains(string(body), `"updated_at":"2026-02-17T11:00:00+05:30"`) {
		t.Errorf("agent: %s", body)
	}
	_, body = get(t, r.URL+"/api/v1/deployments", bearer)
	if !strings.Contains(string(body), `{"agent_version":"1.4.0","branches":["andheri"]}`) {
		t.Errorf("deployments: %s", body)
	}
	_, body = get(t, r.URL+"/metrics", bearer)
	for _, line := range []string{
		`branchwatch_check_state{branch="bandra",check="drill",state="down"} 1`,
		`branchwatch_check_state{branch="andheri",check="drill",state="never"} 1`,
		`branchwatch_check_up{branch="andheri",check="agent"} 1`,
		`branchwatch_last_drill_ok{branch="bandra"} 0`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if got := sample(string(body), `branchwatch_last_drill_timestamp_seconds{branch="bandra"}`); got != float64(time.Date(2026, 2, 15, 3, 0, 0, 0, fixture.IST).Unix()) {
		t.Errorf("last drill time gauge %v", got)
	}
	_, body = get(t, r.URL+"/branches/bandra", basic)
	if !strings.Contains(string(body), `data-testid="drill-row"`) || !strings.Contains(string(body), "restored 599 rows, the manifest says 600") {
		t.Error("the branch page shows no drill history")
	}
	_, body = get(t, r.URL+"/deployments", basic)
	if !strings.Contains(string(body), `data-version="1.4.0"`) {
		t.Error("the deployments page lacks version 1.4.0")
	}
}
