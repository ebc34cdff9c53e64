package options

import (
	"net/url"
	"strings"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert/email"
	"github.com/branchwatch/branchwatch/shared/config"
)

// loadChannels reads and checks the email and Telegram channels. Each is
// optional; a channel half configured is refused, naming what is missing.
// Secrets are never echoed.
func (o *Options) loadChannels(r *config.Reader) {
	o.SMTPURL = r.Secret(EnvSMTPURL)
	o.SMTPCAFile = r.String(EnvSMTPCAFile, "")
	o.EmailFrom = r.String(EnvEmailFrom, "")
	to := r.String(EnvEmailTo, "")
	if o.SMTPURL.IsSet() {
		srv, err := email.ParseURL(o.SMTPURL)
		if err != nil {
			r.Fail(EnvSMTPURL, "%v", err)
		}
		o.SMTP = srv
		if o.EmailFrom == "" {
			r.Fail(EnvEmailFrom, "is required with %s (the sender, e.g. branchwatch@example.com)", EnvSMTPURL)
		} else if _, err := email.ParseAddresses(o.EmailFrom); err != nil || strings.Contains(o.EmailFrom, ",") {
			r.Fail(EnvEmailFrom, "%q is not one email address", o.EmailFrom)
		}
		if to == "" {
			r.Fail(EnvEmailTo, "is required with %s (comma-separated recipients)", EnvSMTPURL)
		} else if list, err := email.ParseAddresses(to); err != nil {
			r.Fail(EnvEmailTo, "%v", err)
		} else {
			o.EmailTo = list
		}
	} else {
		for _, name := range []string{EnvEmailFrom, EnvEmailTo, EnvSMTPCAFile} {
			if r.Set(name) {
				r.Fail(name, "is set but %s is not: set it to send email alerts", EnvSMTPURL)
			}
		}
	}

	o.TelegramToken = r.Secret(EnvTelegramToken)
	o.TelegramChatID = r.String(EnvTelegramChatID, "")
	o.TelegramAPIURL = r.String(EnvTelegramAPIURL, DefaultTelegramAPIURL)
	switch {
	case o.TelegramToken.IsSet() && o.TelegramChatID == "":
		r.Fail(EnvTelegramChatID, "is required with %s (the chat's numeric id, or @channelname)", EnvTelegramToken)
	case !o.TelegramToken.IsSet() && o.TelegramChatID != "":
		r.Fail(EnvTelegramToken, "is required with %s (the token @BotFather gave)", EnvTelegramChatID)
	}
	if t := o.TelegramToken.Reveal(); t != "" && (!strings.Contains(t, ":") || strings.ContainsAny(t, "/?# \t")) {
		r.Fail(EnvTelegramToken, "is not a bot token (digits, a colon, then letters: as @BotFather gives it)")
	}
	if u, err := url.Parse(o.TelegramAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail(EnvTelegramAPIURL, "%q is not an http(s) URL", o.TelegramAPIURL)
	}
}

// AlertChannels names the configured alert channels.
func (o Options) AlertChannels() []string {
	var out []string
	if o.SMTPURL.IsSet() {
		out = append(out, "email")
	}
	if o.TelegramToken.IsSet() {
		out = append(out, "telegram")
	}
	if o.WebhookURL.IsSet() {
		out = append(out, "webhook")
	}
	return out
}
