package app

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/email"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/telegram"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/webhook"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
)

// channelTimeout bounds one HTTP delivery attempt.
const channelTimeout = 30 * time.Second

// Channels builds the configured alert channels, in a fixed order (email,
// telegram, webhook).
func Channels(o options.Options) ([]alert.Channel, error) {
	client := &http.Client{Timeout: channelTimeout}
	var out []alert.Channel
	if o.SMTPURL.IsSet() {
		e := &email.Email{Server: o.SMTP, From: o.EmailFrom, To: o.EmailTo, Timeout: channelTimeout}
		if o.SMTPCAFile != "" {
			pem, err := os.ReadFile(o.SMTPCAFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", options.EnvSMTPCAFile, err)
			}
			e.RootCAs = x509.NewCertPool()
			if !e.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New(options.EnvSMTPCAFile + ": no PEM certificate in " + o.SMTPCAFile)
			}
		}
		out = append(out, e)
	}
	if o.TelegramToken.IsSet() {
		out = append(out, &telegram.Telegram{APIURL: o.TelegramAPIURL, Token: o.TelegramToken, ChatID: o.TelegramChatID, Client: client})
	}
	if o.WebhookURL.IsSet() {
		out = append(out, &webhook.Webhook{URL: o.WebhookURL, Client: client})
	}
	return out, nil
}
