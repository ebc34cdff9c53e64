package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestHashPassword(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		code     int
		pw       string // the password the hash must match
	}{
		{"a line", "correct horse\n", 0, "correct horse"},
		{"crlf", "Pa55 word\r\n", 0, "Pa55 word"},
		{"no newline", "s3cret", 0, "s3cret"},
		{"empty", "\n", 1, ""},
		{"too long for bcrypt", strings.Repeat("x", 73) + "\n", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := app.MainInput(context.Background(), []string{"hash-password", "--cost", "10"}, strings.NewReader(tc.in), &out, &errb, config.MapLookup(nil))
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errb.String())
			}
			if tc.code != 0 {
				return
			}
			hash := strings.TrimSpace(out.String())
			if bcrypt.CompareHashAndPassword([]byte(hash), []byte(tc.pw)) != nil {
				t.Errorf("%q is not a bcrypt hash of %q", hash, tc.pw)
			}
			if strings.Contains(out.String()+errb.String(), tc.pw) {
				t.Error("the password was printed")
			}
			// The hash is what DASHBOARD_PASSWORD_BCRYPT accepts.
			_, err := options.Load(config.NewReader(config.MapLookup(map[string]string{options.EnvBucketDir: "x",
				options.EnvUser: "owner", options.EnvPasswordBcrypt: hash})), options.Need{Bucket: true, Auth: true})
			if err != nil {
				t.Errorf("the hash is refused: %v", err)
			}
		})
	}
}

func TestExportHelpListsOnlyItsFlags(t *testing.T) {
	code, out, errs := runMain(nil, "help", "export")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"-from", "-to", "-branch", "-units", "-no-sync", "-data-dir", "-bucket-dir"} {
		if !strings.Contains(out, "  "+want+" ") && !strings.Contains(out, "  "+want+"\n") {
			t.Errorf("export help lacks %s:\n%s", want, out)
		}
	}
	for _, not := range []string{"-listen", "-refresh-interval", "-expected-branches", "-timezone"} {
		if strings.Contains(out, not+" ") {
			t.Errorf("export help lists %s, which export does not use:\n%s", not, out)
		}
	}
}

// TestTestAlert sends the test message to email (mailpit, STARTTLS with a
// test CA and authentication), Telegram (a loopback Bot API) and the
// webhook, and prints each result; a failing channel makes it exit 1.
func TestTestAlert(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitSTARTTLS)
	var tgGot, hookGot []string
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ChatID int64  `json:"chat_id"`
			Text   string `json:"text"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/bot123:tg-Secret/sendMessage" || json.NewDecoder(r.Body).Decode(&body) != nil || body.ChatID != 42 {
			http.Error(w, `{"ok":false,"description":"Bad Request"}`, http.StatusBadRequest)
			return
		}
		tgGot = append(tgGot, body.Text)
		_, _ = w.Write([]byte(`{"ok":true,"result":{}}`))
	}))
	defer tg.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&p)
		hookGot = append(hookGot, p.Text)
	}))
	defer hook.Close()
	smtpURL := (&url.URL{Scheme: "smtp", User: url.UserPassword(mp.User, mp.Password), Host: mp.SMTPAddr}).String()
	env := map[string]string{
		options.EnvSMTPURL: smtpURL, options.EnvSMTPCAFile: mp.CAFile, options.EnvEmailFrom: "branchwatch@example.com",
		options.EnvEmailTo: "owner@example.com", options.EnvTelegramToken: "123:tg-Secret", options.EnvTelegramChatID: "42",
		options.EnvTelegramAPIURL: tg.URL, options.EnvWebhookURL: hook.URL + "/hooks/hook-Secret",
	}
	code, out, errs := runMain(env, "test-alert")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, ch := range []string{"email", "telegram", "webhook"} {
		if !strings.Contains(out, ch) || strings.Count(out, " ok\n") != 3 {
			t.Errorf("output lacks %s ok:\n%s", ch, out)
		}
	}
	if m := mp.Messages(t); len(m) != 1 || m[0].Subject != "Branchwatch test alert" || m[0].To[0].Address != "owner@example.com" {
		t.Errorf("mailpit received %+v", m)
	}
	if len(tgGot) != 1 || len(hookGot) != 1 || !strings.Contains(tgGot[0], "test alert") {
		t.Errorf("telegram got %q, webhook got %q", tgGot, hookGot)
	}

	// Telegram refuses (a wrong chat), the others still get theirs.
	env[options.EnvTelegramChatID] = "7"
	free, _ := testenv.FreePort()
	env[options.EnvWebhookURL] = "http://" + net.JoinHostPort("127.0.0.1", itoa(free)) + "/hooks/hook-Secret"
	code, out, errs = runMain(env, "test-alert")
	if code != 1 || !strings.Contains(out, "email     ok") || !strings.Contains(out, "telegram  FAILED") || !strings.Contains(out, "webhook   FAILED") {
		t.Errorf("exit %d, output:\n%s\nwant email ok, telegram and webhook FAILED, exit 1", code, out)
	}
	for _, secret := range []string{mp.Password, "tg-Secret", "hook-Secret"} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("a secret was printed:\n%s%s", out, errs)
		}
	}
}
