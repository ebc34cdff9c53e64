package digest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// hookReceiver is a Slack-style incoming webhook on loopback: it keeps
// every payload's text and kind.
type hookReceiver struct {
	mu    sync.Mutex
	texts []string
	kinds []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct{ Text, Kind string }
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&p) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.texts = append(h.texts, p.Text)
	h.kinds = append(h.kinds, p.Kind)
}

// digests are the texts of the digest payloads received.
func (h *hookReceiver) digests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for i, k := range h.kinds {
		if k == "digest" {
			out = append(out, h.texts[i])
		}
	}
	return out
}

// logBuffer collects a running aggregator's JSON log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits (does not retry anything) until cond holds, or fails.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDigestDeliveredOncePerDayAcrossRestart runs the aggregator (serve,
// in-process) with email to a real SMTP server (mailpit: STARTTLS, a test
// CA, authentication) and a webhook on loopback. Nothing goes out before
// DIGEST_TIME; at 09:00 the digest reaches both, the email with its
// subject and the digest's lines as its body, the webhook with the same
// lines as its "text". The aggregator is stopped and started again on the
// same data directory at 10:00: it does not send again that day. The next
// morning it does.
func TestDigestDeliveredOncePerDayAcrossRestart(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitSTARTTLS)
	hook := &hookReceiver{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	st := testenv.StartS3(t).Store(t)
	andheri, bandra, lastMonday := craft(t, st)
	dir := t.TempDir()

	var clock atomic.Pointer[time.Time]
	set := func(d, h, m int) {
		at := time.Date(2026, 2, d, h, m, 0, 0, fixture.IST)
		clock.Store(&at)
	}
	now := func() time.Time { return *clock.Load() }
	env := map[string]string{
		options.EnvListen: "127.0.0.1:0", options.EnvDataDir: dir, options.EnvBucketDir: "unused",
		options.EnvInsecureNoAuth: "true", options.EnvTimezone: "Asia/Kolkata", options.EnvDigestTime: "09:00",
		options.EnvSMTPURL:    (&url.URL{Scheme: "smtp", User: url.UserPassword(mp.User, mp.Password), Host: mp.SMTPAddr}).String(),
		options.EnvSMTPCAFile: mp.CAFile, options.EnvEmailFrom: "branchwatch@example.com", options.EnvEmailTo: "owner@example.com",
		options.EnvWebhookURL: hookSrv.URL + "/hooks/T000/B000",
	}
	// The schedule looks every 100 ms instead of every minute, so that
	// the clock steps below are seen at once.
	const every = 100 * time.Millisecond
	digestMails := func() []testenv.MailpitMessage {
		var out []testenv.MailpitMessage
		for _, m := range mp.Messages(t) {
			// Alerts' subjects are "Branchwatch: ..." or "Branchwatch
			// reminder: ..."; a digest's starts with its day.
			if strings.HasPrefix(m.Subject, "Branchwatch ") && !strings.HasPrefix(m.Subject, "Branchwatch reminder") {
				out = append(out, m)
			}
		}
		return out
	}

	// start runs the aggregator until the returned stop is called.
	start := func(logs *logBuffer) (a *app.App, stop func()) {
		t.Helper()
		o, err := options.Load(config.NewReader(config.MapLookup(env)), options.Need{Bucket: true, Auth: true})
		if err != nil {
			t.Fatal(err)
		}
		a, err = app.Build(o, app.Config{Store: st, Now: now, DigestEvery: every, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, nil) }()
		return a, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}

	logs1 := &logBuffer{}
	set(17, 8, 59)
	a1, stop1 := start(logs1)
	waitFor(t, "the first sync", func() bool { return a1.Service.LastSync().Syncs >= 1 })
	time.Sleep(5 * every) // some looks at 08:59 with the bucket read
	if got := a1.Notifier.LastDigest(); got != "" {
		t.Fatalf("a digest was queued before DIGEST_TIME (for %s)", got)
	}

	set(17, 9, 0)
	waitFor(t, "the digest email and webhook post", func() bool { return len(digestMails()) == 1 && len(hook.digests()) == 1 })
	subject, lines := wantDigest(andheri, bandra, lastMonday)
	mail := digestMails()[0]
	if mail.Subject != subject {
		t.Errorf("email subject %q, want %q", mail.Subject, subject)
	}
	if len(mail.To) != 1 || mail.To[0].Address != "owner@example.com" || mail.From.Address != "branchwatch@example.com" {
		t.Errorf("email from %+v to %+v", mail.From, mail.To)
	}
	text := hook.digests()[0]
	for _, l := range lines {
		if !strings.Contains(mail.Text, l) {
			t.Errorf("the email body lacks %q:\n%s", l, mail.Text)
		}
		if !strings.Contains(text, l) {
			t.Errorf("the webhook text lacks %q:\n%s", l, text)
		}
	}
	if !strings.HasPrefix(text, "Branchwatch, Mon 16 Feb 2026: ") || strings.Count(text, "\n") < len(lines)-1 {
		t.Errorf("the webhook text is not the digest's lines:\n%s", text)
	}
	stop1()

	// A restart the same day, on the same data directory, finds the
	// digest sent and does not send it again.
	logs2 := &logBuffer{}
	set(17, 10, 0)
	a2, stop2 := start(logs2)
	defer func() {
		if stop2 != nil {
			stop2()
		}
	}()
	waitFor(t, "the restarted aggregator to look at the digest", func() bool {
		l := logs2.String()
		return strings.Contains(l, "morning digest of today already sent") || strings.Contains(l, "morning digest queued")
	})
	if n, h := len(digestMails()), len(hook.digests()); n != 1 || h != 1 {
		t.Fatalf("after a restart on the same day: %d digest emails and %d webhook digests, want 1 and 1", n, h)
	}
	if strings.Contains(logs2.String(), "morning digest queued") {
		t.Fatalf("the restarted aggregator queued the digest again:\n%s", logs2.String())
	}

	// The next morning it goes out again, once.
	set(18, 9, 0)
	waitFor(t, "the next morning's digest", func() bool { return len(digestMails()) == 2 && len(hook.digests()) == 2 })
	if got := a2.Notifier.LastDigest(); got != "2026-02-18" {
		t.Errorf("last digest %q, want 2026-02-18", got)
	}
	stop2()
	stop2 = nil
	if n, h := len(digestMails()), len(hook.digests()); n != 2 || h != 2 {
		t.Errorf("after two mornings: %d digest emails and %d webhook digests, want 2 and 2", n, h)
	}
}
