package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/webhook"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/config"
)

// hook is a webhook endpoint that fails its first `failures` requests and
// hands every delivered payload to a channel.
type hook struct {
	mu        sync.Mutex
	failures  int
	attempts  int
	delivered chan webhook.Payload
	block     chan struct{} // when set, requests wait on it
}

func newHook(t *testing.T, failures int) (*hook, string) {
	h := &hook{failures: failures, delivered: make(chan webhook.Payload, 100)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv.URL + "/services/secret-path"
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.block != nil {
		select {
		case <-h.block:
		case <-r.Context().Done():
			return
		}
	}
	h.mu.Lock()
	h.attempts++
	fail := h.attempts <= h.failures
	h.mu.Unlock()
	if fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var p webhook.Payload
	b, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &p) != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	h.delivered <- p
}

func (h *hook) next(t *testing.T) webhook.Payload {
	t.Helper()
	select {
	case p := <-h.delivered:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no alert delivered within 10s")
		return webhook.Payload{}
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func obs(branch string, check string, st freshness.State) alert.Observation {
	return alert.Observation{Branch: branch, BranchName: "Salon " + branch,
		Check: freshness.Check{Name: check, State: st, Reason: "because " + string(st)}}
}

func newNotifier(t *testing.T, url, dir string, clk *clock, reminder time.Duration, attempts ...chan alert.Record) *alert.Notifier {
	t.Helper()
	o := alert.Options{Dir: dir, Reminder: reminder, Now: clk.Now,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	if url != "" {
		o.Channels = []alert.Channel{&webhook.Webhook{URL: config.Secret(url)}}
	}
	if len(attempts) > 0 {
		o.OnAttempt = func(r alert.Record, _ string) { attempts[0] <- r }
	}
	n, err := alert.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func run(t *testing.T, n *alert.Notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestOneAlertPerChange: down once, nothing while it stays down or goes
// late, recovered once when up; reminders only when configured.
func TestOneAlertPerChange(t *testing.T) {
	cases := []struct {
		name     string
		reminder time.Duration
		steps    []freshness.State
		want     []alert.Kind
	}{
		{"up stays quiet", 0, []freshness.State{freshness.Up, freshness.Up, freshness.Late, freshness.Up}, nil},
		{"down then up", 0, []freshness.State{freshness.Up, freshness.Late, freshness.Down, freshness.Down, freshness.Late, freshness.Up},
			[]alert.Kind{alert.KindDown, alert.KindRecovered}},
		{"never seen alerts at once", 0, []freshness.State{freshness.Never, freshness.Never, freshness.Down}, []alert.Kind{alert.KindDown}},
		{"reminders while down", time.Hour, []freshness.State{freshness.Down, freshness.Down, freshness.Down, freshness.Up},
			[]alert.Kind{alert.KindDown, alert.KindReminder, alert.KindReminder, alert.KindRecovered}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, url := newHook(t, 0)
			clk := &clock{t: time.Date(2026, 2, 17, 23, 0, 0, 0, time.UTC)}
			n := newNotifier(t, url, t.TempDir(), clk, c.reminder)
			run(t, n)
			for _, st := range c.steps {
				n.Observe([]alert.Observation{obs("andheri", "backup", st)})
				clk.Add(61 * time.Minute)
			}
			for _, want := range c.want {
				p := h.next(t)
				if alert.Kind(p.Kind) != want || p.BranchID != "andheri" || p.Check != "backup" {
					t.Fatalf("delivered %+v, want a %s alert", p, want)
				}
				if !strings.Contains(p.Text, "Salon andheri") || !strings.Contains(p.Text, "backup") {
					t.Errorf("text %q does not say which branch and check", p.Text)
				}
			}
			select {
			case p := <-h.delivered:
				t.Fatalf("extra alert %+v", p)
			default:
			}
			if got := len(n.History()); got != len(c.want) {
				t.Errorf("history holds %d records, want %d", got, len(c.want))
			}
		})
	}
}

// TestWebhookDown: deliveries fail, are retried with backoff and arrive,
// in order; the failures are counted and recorded.
func TestWebhookDown(t *testing.T) {
	h, url := newHook(t, 3)
	clk := &clock{t: time.Now()}
	attempts := make(chan alert.Record, 10)
	n := newNotifier(t, url, t.TempDir(), clk, 0, attempts)
	n.Observe([]alert.Observation{obs("andheri", "metrics", freshness.Down)})
	n.Observe([]alert.Observation{obs("andheri", "metrics", freshness.Up)})
	if n.Pending() != 2 {
		t.Fatalf("pending = %d, want 2", n.Pending())
	}
	run(t, n)
	if p := h.next(t); alert.Kind(p.Kind) != alert.KindDown {
		t.Fatalf("first delivered %s, want down", p.Kind)
	}
	if p := h.next(t); alert.Kind(p.Kind) != alert.KindRecovered {
		t.Fatalf("second delivered %s, want recovered", p.Kind)
	}
	for r := range attempts { // 3 failures, then the two deliveries
		if r.Status == alert.StatusDelivered && r.Kind == alert.KindRecovered {
			break
		}
		if d, _ := r.Delivery("webhook"); r.Status == alert.StatusPending && (!strings.Contains(d.LastError, "503") || strings.Contains(d.LastError, "secret-path")) {
			t.Errorf("failed attempt recorded error %q: want the status, never the URL", d.LastError)
		}
	}
	sent, failed := n.Counts()
	if sent != 2 || failed != 3 {
		t.Errorf("sent %d, failed %d; want 2 and 3", sent, failed)
	}
	hist := n.History()
	if r := hist[1]; r.Status != alert.StatusDelivered || r.Deliveries[0].Attempts != 4 || r.Kind != alert.KindDown {
		t.Errorf("down record = %+v, want delivered after 4 attempts", r)
	}
}

// TestObserveNeverBlocks: a webhook that hangs does not hold Observe.
func TestObserveNeverBlocks(t *testing.T) {
	h, url := newHook(t, 0)
	h.block = make(chan struct{})
	defer close(h.block)
	n := newNotifier(t, url, "", &clock{t: time.Now()}, 0)
	run(t, n)
	done := make(chan struct{})
	go func() {
		for i := range 50 {
			st := freshness.Down
			if i%2 == 1 {
				st = freshness.Up
			}
			n.Observe([]alert.Observation{obs("andheri", "backup", st)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked behind a hanging webhook")
	}
	if n.Pending() != 50 {
		t.Errorf("pending = %d, want 50", n.Pending())
	}
}

// TestRestartKeepsState: a restart neither repeats an alert nor loses an
// undelivered one.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	n1 := newNotifier(t, "http://127.0.0.1:1/unreachable", dir, clk, 0)
	n1.Observe([]alert.Observation{obs("andheri", "backup", freshness.Down)})

	h, url := newHook(t, 0)
	n2 := newNotifier(t, url, dir, clk, 0)
	n2.Observe([]alert.Observation{obs("andheri", "backup", freshness.Down)})
	run(t, n2)
	if p := h.next(t); alert.Kind(p.Kind) != alert.KindDown {
		t.Fatalf("delivered %s, want the down alert raised before the restart", p.Kind)
	}
	if got := len(n2.History()); got != 1 {
		t.Errorf("history has %d records after restart, want 1 (no repeat)", got)
	}
}

// TestNoWebhook: alerts are recorded and shown, never pending.
func TestNoWebhook(t *testing.T) {
	n := newNotifier(t, "", "", &clock{t: time.Now()}, 0)
	n.Observe([]alert.Observation{obs("andheri", "backup", freshness.Never)})
	hist := n.History()
	if len(hist) != 1 || hist[0].Status != alert.StatusNotConfigured || n.Pending() != 0 {
		t.Fatalf("history %+v, pending %d", hist, n.Pending())
	}
	if cur := n.Current(); len(cur) != 1 || cur[0].State != freshness.Never {
		t.Errorf("current = %+v", cur)
	}
}

// TestHostileNames: a branch name with a right-to-left override, a line
// break and Slack markup reaches the chat text stripped of the controls
// and escaped, and the record shown on the alerts page is stripped too.
func TestHostileNames(t *testing.T) {
	h, url := newHook(t, 0)
	n := newNotifier(t, url, "", &clock{t: time.Now()}, 0)
	run(t, n)
	ob := obs("evil", "backup", freshness.Down)
	ob.BranchName = "<!channel> \u202Egnp.exe\nline two\u2066"
	n.Observe([]alert.Observation{ob})
	p := h.next(t)
	if strings.ContainsAny(p.Text, "\u202E\u2066\n<>") || !strings.Contains(p.Text, "&lt;!channel&gt; gnp.exe line two (evil)") {
		t.Errorf("chat text %q: want the controls stripped and <> escaped", p.Text)
	}
	r := n.History()[0]
	if strings.ContainsAny(r.BranchName+r.Text, "\u202E\u2066\n") {
		t.Errorf("record %q / %q keeps a control character", r.BranchName, r.Text)
	}
}
