package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/daemon"
)

type problems struct{ list atomic.Pointer[[]string] }

func (p *problems) Problems() []string {
	if l := p.list.Load(); l != nil {
		return *l
	}
	return nil
}

// TestHealthzFollowsTheHealthSource: 200 without problems, 503 naming
// each one otherwise; RunNow reruns a start-up job and a scheduled one;
// PingFail reaches the job's check URL.
func TestHealthzFollowsTheHealthSource(t *testing.T) {
	var mu sync.Mutex
	var pings []string
	hc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pings = append(pings, r.URL.Path)
		mu.Unlock()
	}))
	defer hc.Close()
	h := &problems{}
	dn := newDone()
	ok := func(context.Context) (daemon.Outcome, error) { return daemon.Outcome{}, nil }
	d := start(t, daemon.Config{
		Location: kolkata, Listen: "127.0.0.1:0", Clock: clockwork.NewFakeClock(), Health: h, OnRunDone: dn.hook,
		Jobs: []daemon.Job{{Name: "catchup", Task: ok}, {Name: "backup", Schedule: "0 22 * * *", Task: ok, PingURL: hc.URL + "/backup"}},
	})
	if e := dn.wait(t); e.job != "catchup" {
		t.Fatalf("start-up run: %+v", e)
	}
	get := func() (int, []string) {
		resp, err := http.Get("http://" + d.Addr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Status   string   `json:"status"`
			Problems []string `json:"problems"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body.Problems
	}
	if code, p := get(); code != 200 || p != nil {
		t.Errorf("healthy: %d %v", code, p)
	}
	want := []string{`DATABASE_URL: password authentication failed for user "bw"`, "BACKUP_S3_BUCKET: bucket b does not exist (NoSuchBucket)"}
	h.list.Store(&want)
	if code, p := get(); code != 503 || len(p) != 2 || p[0] != want[0] || p[1] != want[1] {
		t.Errorf("failing: %d %q", code, p)
	}
	d.PingFail(t.Context(), "backup", want[0])
	for _, job := range []string{"catchup", "backup"} {
		if err := d.RunNow(job); err != nil {
			t.Fatal(err)
		}
		if e := dn.wait(t); e.job != job || e.err != nil {
			t.Errorf("RunNow(%s): %+v", job, e)
		}
	}
	if err := d.RunNow("nope"); err == nil {
		t.Error("RunNow of an unknown job succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if got := len(pings); got != 3 || pings[0] != "/backup/fail" || pings[2] != "/backup" {
		t.Errorf("pings %v", pings)
	}
}
