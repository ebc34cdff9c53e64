// Package webhook sends alerts as a JSON POST with a human-readable "text"
// field (Slack-, Discord- and Mattermost-compatible incoming hooks show
// it) and the structured facts beside it.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/httpsend"
	"github.com/branchwatch/branchwatch/shared/config"
)

// Payload is the JSON body POSTed to the webhook.
type Payload struct {
	// Text is the alert line, escaped per Slack's rules (& < >) so that a
	// name cannot ping @channel or disguise a link.
	Text       string    `json:"text"`
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	BranchID   string    `json:"branch_id"`
	BranchName string    `json:"branch_name"`
	Check      string    `json:"check"`
	State      string    `json:"state"`
	Previous   string    `json:"previous_state,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	Reason     string    `json:"reason"`
	RaisedAt   time.Time `json:"raised_at"`
}

// Webhook posts to one URL.
type Webhook struct {
	URL    config.Secret // a Slack hook's path is its secret
	Client *http.Client  // http.DefaultClient when nil
}

var _ alert.Channel = (*Webhook)(nil)

// Name is "webhook".
func (*Webhook) Name() string { return "webhook" }

// Send posts one message; any status but 2xx is a failure, retryable for
// 408, 429 and 5xx. Errors never carry the URL.
func (w *Webhook) Send(ctx context.Context, m alert.Message) (bool, error) {
	body, err := json.Marshal(Payload{Text: SlackEscape(m.Text), ID: m.ID, Kind: string(m.Kind), BranchID: m.BranchID,
		BranchName: m.BranchName, Check: m.Check, State: string(m.State), Previous: string(m.Previous), Since: m.Since,
		Reason: m.Reason, RaisedAt: m.RaisedAt})
	if err != nil {
		return false, fmt.Errorf("encode alert: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL.Reveal(), bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("post alert: bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	_, retry, err := httpsend.Do(w.Client, req, "webhook")
	return retry, err
}

// slackEscaper escapes the three characters Slack's message formatting
// gives meaning to: <...> makes links and mentions (<!channel>), & starts
// an entity.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackEscape escapes s for a Slack-compatible "text" field.
func SlackEscape(s string) string { return slackEscaper.Replace(s) }
