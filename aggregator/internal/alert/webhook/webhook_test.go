package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/webhook"
	"github.com/branchwatch/branchwatch/shared/config"
)

// TestSlackEscaping: a hostile branch name cannot ping @channel or hide a
// link in a Slack-compatible text; the structured field keeps the name.
func TestSlackEscaping(t *testing.T) {
	var got webhook.Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	name := "<!channel> <http://evil.example|click> & co"
	m := alert.Message{BranchID: "evil", BranchName: name, Text: "Branchwatch: " + name + " (evil) backup check is DOWN"}
	if _, err := (&webhook.Webhook{URL: config.Secret(srv.URL)}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	want := "Branchwatch: &lt;!channel&gt; &lt;http://evil.example|click&gt; &amp; co (evil) backup check is DOWN"
	if got.Text != want {
		t.Errorf("text = %q\nwant   %q", got.Text, want)
	}
	if got.BranchName != name {
		t.Errorf("branch_name = %q, want the name as is (JSON data, not chat markup)", got.BranchName)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{{http.StatusServiceUnavailable, true}, {http.StatusTooManyRequests, true}, {http.StatusNotFound, false}, {http.StatusBadRequest, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
		retry, err := (&webhook.Webhook{URL: config.Secret(srv.URL + "/hooks/secret-path")}).Send(context.Background(), alert.Message{Text: "x"})
		srv.Close()
		if err == nil || retry != tc.retry {
			t.Errorf("status %d: retry %t, %v; want retry %t", tc.status, retry, err, tc.retry)
		}
	}
}
