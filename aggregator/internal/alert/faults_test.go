package alert_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/email"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/telegram"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/webhook"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// counter is a loopback endpoint (webhook or Bot API) that refuses with
// 503 while refusing is set and counts every message it accepted by the
// alert text.
type counter struct {
	refusing atomic.Bool
	mu       sync.Mutex
	got      map[string]int
	order    []string
}

func newCounter(t *testing.T) (*counter, *httptest.Server) {
	c := &counter{got: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.refusing.Load() {
		http.Error(w, "refusing", http.StatusServiceUnavailable)
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Text == "" {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.got[body.Text]++
	c.order = append(c.order, body.Text)
	c.mu.Unlock()
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func (c *counter) snapshot() (map[string]int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.got {
		m[k] = v
	}
	return m, append([]string(nil), c.order...)
}

// endpoint is one channel's receiving end in a test: it can refuse, and
// says which alert texts it received, in order.
type endpoint struct {
	channel alert.Channel
	refuse  func(bool) // set or clear refusing
	texts   func() []string
}

// httpEndpoint is a webhook or Telegram endpoint on a loopback counter.
func httpEndpoint(t *testing.T, kind string) *endpoint {
	c, srv := newCounter(t)
	e := &endpoint{refuse: c.refusing.Store, texts: func() []string { _, o := c.snapshot(); return o }}
	if kind == "telegram" {
		e.channel = &telegram.Telegram{APIURL: srv.URL, Token: "1:tok", ChatID: "42"}
	} else {
		e.channel = &webhook.Webhook{URL: config.Secret(srv.URL)}
	}
	return e
}

// emailEndpoint is mailpit (STARTTLS, test CA, authentication); refusing
// means not started yet, so it refuses once, until told to stop refusing.
func emailEndpoint(t *testing.T) *endpoint {
	mp := testenv.NewMailpit(t, testenv.MailpitSTARTTLS)
	pem, err := os.ReadFile(mp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	host, port, _ := net.SplitHostPort(mp.SMTPAddr)
	p, _ := strconv.Atoi(port)
	started := false
	return &endpoint{
		channel: &email.Email{Server: email.Server{Host: host, Port: p, User: mp.User, Password: config.Secret(mp.Password)},
			From: "bw@example.com", To: []string{"owner@example.com"}, RootCAs: roots, Timeout: 10 * time.Second},
		refuse: func(refusing bool) {
			if !refusing && !started {
				started = true
				mp.Start(t)
			}
		},
		texts: func() []string {
			if !started {
				return nil
			}
			msgs := mp.Messages(t)
			out := make([]string, 0, len(msgs))
			for i := len(msgs) - 1; i >= 0; i-- { // the API lists the newest first
				out = append(out, strings.SplitN(msgs[i].Text, "\n", 2)[0])
			}
			return out
		},
	}
}

// start runs a notifier over dir with the endpoints' channels until stop
// is called.
func start(t *testing.T, dir string, clk *clock, eps []*endpoint) (*alert.Notifier, func()) {
	t.Helper()
	var channels []alert.Channel
	for _, e := range eps {
		channels = append(channels, e.channel)
	}
	n, err := alert.New(alert.Options{Dir: dir, Now: clk.Now, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Channels: channels, Timeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	return n, func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, 30*time.Second, cond)
}

// TestChannelRefusingAcrossRestart: each channel in turn refuses for a
// while, through a restart, while the others work; in the end every
// channel got every alert exactly once, in order, and the working ones
// were never held up.
func TestChannelRefusingAcrossRestart(t *testing.T) {
	for _, refusing := range []string{"email", "telegram", "webhook"} {
		t.Run(refusing+" refuses", func(t *testing.T) {
			eps := map[string]*endpoint{"email": emailEndpoint(t), "telegram": httpEndpoint(t, "telegram"), "webhook": httpEndpoint(t, "webhook")}
			order := []*endpoint{eps["email"], eps["telegram"], eps["webhook"]}
			for name, e := range eps {
				e.refuse(name == refusing)
			}
			bad := eps[refusing]
			working := func(n int) func() bool {
				return func() bool {
					for name, e := range eps {
						if name != refusing && len(e.texts()) < n {
							return false
						}
					}
					return true
				}
			}
			dir := t.TempDir()
			clk := &clock{t: time.Date(2026, 2, 17, 23, 0, 0, 0, time.UTC)}

			n1, stop1 := start(t, dir, clk, order)
			n1.Observe([]alert.Observation{obs("andheri", "backup", freshness.Down), obs("bandra", "metrics", freshness.Never)})
			waitFor(t, "the working channels to take both alerts", working(2))
			waitFor(t, "a few refused attempts", func() bool {
				d, _ := n1.History()[1].Delivery(refusing)
				return d.Attempts >= 3
			})
			if r := n1.History()[1]; r.Status != alert.StatusPending {
				t.Errorf("record %+v: want pending while %s refuses", r, refusing)
			}
			stop1()

			// Restart: the outbox in the data directory still holds both
			// for the refusing channel; a recovery is raised after it.
			n2, stop2 := start(t, dir, clk, order)
			defer stop2()
			n2.Observe([]alert.Observation{obs("andheri", "backup", freshness.Up), obs("bandra", "metrics", freshness.Never)})
			waitFor(t, "the working channels to take the recovery", working(3))
			bad.refuse(false)
			waitFor(t, "the refusing channel to catch up", func() bool { return len(bad.texts()) == 3 })
			waitFor(t, "nothing pending", func() bool { return n2.Pending() == 0 })

			for name, e := range eps {
				got := e.texts()
				if len(got) != 3 || !strings.Contains(got[0], "andheri") || !strings.Contains(got[0], "DOWN") ||
					!strings.Contains(got[1], "bandra") || !strings.Contains(got[2], "back UP") {
					t.Errorf("%s got %q: want andheri down, bandra never, andheri up, once each, in that order", name, got)
				}
			}
			for _, cs := range n2.Channels() {
				want := int64(1) // after the restart: the recovery
				if cs.Channel == refusing {
					want = 3
				}
				if cs.Sent != want || cs.Pending != 0 {
					t.Errorf("%s counts after the restart %+v: want %d sent, none pending", cs.Channel, cs, want)
				}
			}
			for _, r := range n2.History() {
				if r.Status != alert.StatusDelivered {
					t.Errorf("record %d is %s, want delivered on every channel: %+v", r.ID, r.Status, r.Deliveries)
				}
			}
		})
	}
}

// TestDamagedHistory: a damaged alerts.json is moved aside, start goes on,
// and problems failing since before it was last written are not alerted
// again, while a problem that began after is, and a recovery of an old
// problem still is.
func TestDamagedHistory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, alert.HistoryFile)
	if err := os.WriteFile(path, []byte(`{"next_id": 12, "checks": {`), 0o640); err != nil {
		t.Fatal(err)
	}
	written := time.Date(2026, 2, 17, 20, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, written, written); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: written.Add(3 * time.Hour)}
	h, url := newHook(t, 0)
	n := newNotifier(t, url, dir, clk, 0)
	run(t, n)
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 1 {
		t.Fatalf("damaged file not moved aside: %v", m)
	}
	old := obs("andheri", "backup", freshness.Down)
	old.Check.Since = written.Add(-24 * time.Hour)
	never := obs("colaba", "metrics", freshness.Never) // no since: failing from the start
	fresh := obs("bandra", "backup", freshness.Down)
	fresh.Check.Since = written.Add(time.Hour)
	n.Observe([]alert.Observation{old, never, fresh, obs("dadar", "backup", freshness.Up)})
	if p := h.next(t); p.BranchID != "bandra" || alert.Kind(p.Kind) != alert.KindDown {
		t.Fatalf("delivered %+v, want only bandra's new problem", p)
	}
	// The next observation is judged normally: andheri recovering is news.
	old.Check.State = freshness.Up
	n.Observe([]alert.Observation{old, never, fresh, obs("dadar", "backup", freshness.Up)})
	if p := h.next(t); p.BranchID != "andheri" || alert.Kind(p.Kind) != alert.KindRecovered {
		t.Fatalf("delivered %+v, want andheri's recovery", p)
	}
	select {
	case p := <-h.delivered:
		t.Fatalf("extra alert %+v", p)
	case <-time.After(100 * time.Millisecond):
	}
	if got := len(n.History()); got != 2 {
		t.Errorf("history holds %d records, want 2", got)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no new %s written: %v", alert.HistoryFile, err)
	}
}

// TestLegacyHistory: a history written before channels existed keeps its
// undelivered webhook alert and delivers it once.
func TestLegacyHistory(t *testing.T) {
	dir := t.TempDir()
	legacy := `{"next_id":3,"checks":{"andheri/backup":{"state":"down","alerting":true}},"history":[
{"id":1,"time":"2026-02-17T10:00:00Z","kind":"down","branch_id":"bandra","check":"metrics","state":"down","text":"old delivered","status":"delivered","attempts":1},
{"id":2,"time":"2026-02-17T11:00:00Z","kind":"down","branch_id":"andheri","check":"backup","state":"down","text":"old pending","status":"pending","attempts":4,"last_error":"post alert: webhook answered 503"}]}`
	if err := os.WriteFile(filepath.Join(dir, alert.HistoryFile), []byte(legacy), 0o640); err != nil {
		t.Fatal(err)
	}
	h, url := newHook(t, 0)
	n := newNotifier(t, url, dir, &clock{t: time.Now()}, 0)
	run(t, n)
	if p := h.next(t); p.Text != "old pending" {
		t.Fatalf("delivered %q, want the old pending alert", p.Text)
	}
	waitFor(t, "nothing pending", func() bool { return n.Pending() == 0 })
	hist := n.History()
	if d, _ := hist[0].Delivery("webhook"); len(hist) != 2 || d.Attempts != 5 || hist[0].Status != alert.StatusDelivered {
		t.Errorf("history %+v: want the pending one delivered on its 5th attempt", hist)
	}
	n.Observe([]alert.Observation{obs("andheri", "backup", freshness.Down)})
	if len(n.History()) != 2 {
		t.Error("a problem alerted before the upgrade was alerted again")
	}
}
