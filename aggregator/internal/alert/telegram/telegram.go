// Package telegram sends alerts through a Telegram bot: the Bot API's
// sendMessage, as plain text (no parse_mode, so nothing in a name is read
// as markup).
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/httpsend"
	"github.com/branchwatch/branchwatch/shared/config"
)

// DefaultAPIURL is the public Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// maxText is the Bot API's limit on a message, in characters.
const maxText = 4096

// Telegram sends to one chat.
type Telegram struct {
	APIURL string        // DefaultAPIURL when ""
	Token  config.Secret // the bot's token: it is in the request path
	ChatID string        // a numeric id, or @channelusername
	Client *http.Client  // http.DefaultClient when nil
}

var _ alert.Channel = (*Telegram)(nil)

// Name is "telegram".
func (*Telegram) Name() string { return "telegram" }

// request is the body of sendMessage.
type request struct {
	ChatID                any    `json:"chat_id"`
	Text                  string `json:"text"`
	DisableWebPagePreview bool   `json:"disable_web_page_preview"`
}

// answer is the Bot API's reply.
type answer struct {
	OK          bool   `json:"ok"`
	Description string `json:"description"`
}

// Send posts one message. Retryable: transport failures, 429 and 5xx; a
// wrong token or chat id is permanent. Errors quote the API's description,
// never the token.
func (t *Telegram) Send(ctx context.Context, m alert.Message) (bool, error) {
	var chat any = t.ChatID
	if n, err := strconv.ParseInt(t.ChatID, 10, 64); err == nil {
		chat = n
	}
	body, err := json.Marshal(request{ChatID: chat, Text: truncate(m.Text, maxText), DisableWebPagePreview: true})
	if err != nil {
		return false, fmt.Errorf("encode alert: %w", err)
	}
	api := strings.TrimRight(t.APIURL, "/")
	if api == "" {
		api = DefaultAPIURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/bot"+t.Token.Reveal()+"/sendMessage", bytes.NewReader(body))
	if err != nil {
		return false, errors.New("post alert: bad Telegram API URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, retry, err := httpsend.Do(t.Client, req, "Telegram")
	var a answer
	_ = json.Unmarshal(resp, &a)
	if err != nil {
		if a.Description != "" {
			err = fmt.Errorf("%w: %s", err, a.Description)
		}
		return retry, err
	}
	if !a.OK {
		return true, fmt.Errorf("post alert: Telegram answered without ok: %.200s", resp)
	}
	return false, nil
}

// truncate keeps at most n characters of s.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
