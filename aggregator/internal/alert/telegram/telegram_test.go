package telegram_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/telegram"
)

const token = "123456:AAE-tg-Secret-token"

// botAPI is a loopback Bot API: it checks the request's shape as Telegram
// does (POST /bot<token>/sendMessage, JSON with chat_id and text) and
// answers as Telegram does.
type botAPI struct {
	t      *testing.T
	status int // answer with this status and ok:false when not 0
	mu     sync.Mutex
	got    []map[string]any
}

func (b *botAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/bot"+token+"/sendMessage" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found"}`)
		return
	}
	var body map[string]any
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
		return
	}
	b.mu.Lock()
	b.got = append(b.got, body)
	b.mu.Unlock()
	if b.status != 0 {
		w.WriteHeader(b.status)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`)
		return
	}
	_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":1}}`)
}

func TestSend(t *testing.T) {
	m := alert.Message{Text: "Branchwatch: Andheri <b>&</b> (andheri) backup check is DOWN: no backup"}
	for _, tc := range []struct {
		name     string
		chat     string
		status   int
		wantChat any
		retry    bool
		errHas   string
	}{
		{"numeric chat", "-1001234567890", 0, float64(-1001234567890), false, ""},
		{"channel username", "@salon_alerts", 0, "@salon_alerts", false, ""},
		{"chat not found is permanent", "42", http.StatusBadRequest, float64(42), false, "chat not found"},
		{"rate limited is retried", "42", http.StatusTooManyRequests, float64(42), true, "429"},
		{"server error is retried", "42", http.StatusBadGateway, float64(42), true, "502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &botAPI{t: t, status: tc.status}
			srv := httptest.NewServer(api)
			defer srv.Close()
			tg := &telegram.Telegram{APIURL: srv.URL, Token: token, ChatID: tc.chat}
			retry, err := tg.Send(context.Background(), m)
			if (err != nil) != (tc.errHas != "") || (err != nil && !strings.Contains(err.Error(), tc.errHas)) || retry != tc.retry {
				t.Fatalf("Send = %t, %v; want retry %t, error with %q", retry, err, tc.retry, tc.errHas)
			}
			if err != nil && strings.Contains(err.Error(), "tg-Secret") {
				t.Errorf("error shows the token: %v", err)
			}
			if len(api.got) != 1 {
				t.Fatalf("the API got %d requests, want 1", len(api.got))
			}
			if got := api.got[0]; got["chat_id"] != tc.wantChat || got["text"] != m.Text || got["parse_mode"] != nil {
				t.Errorf("request %v: want chat_id %v, the text as is, no parse_mode", got, tc.wantChat)
			}
		})
	}
}

// TestUnreachable: a refused connection is retried and never quotes the
// token (it is in the URL's path).
func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	retry, err := (&telegram.Telegram{APIURL: url, Token: token, ChatID: "42"}).Send(context.Background(), alert.Message{Text: "x"})
	if err == nil || !retry || strings.Contains(err.Error(), "tg-Secret") {
		t.Errorf("Send = %t, %v; want a retryable error without the token", retry, err)
	}
}
