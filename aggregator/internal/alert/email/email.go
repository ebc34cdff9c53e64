// Package email sends alerts by SMTP (github.com/wneessen/go-mail): to
// port 587 with mandatory STARTTLS (smtp://) or to port 465 over TLS
// (smtps://), authenticating with the URL's user and password when given.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/shared/config"
)

// Server is an SMTP server as ALERT_SMTP_URL names it.
type Server struct {
	Host     string
	Port     int
	TLS      bool // smtps: TLS from the first byte; else STARTTLS, required
	User     string
	Password config.Secret
}

// ParseURL reads smtp://[user:pass@]host[:587] or smtps://[user:pass@]host[:465].
// Errors never quote the URL (it may hold a password).
func ParseURL(s config.Secret) (Server, error) {
	u, err := url.Parse(s.Reveal())
	if err != nil {
		return Server{}, errors.New("is not a URL (smtp://user:pass@host:587 or smtps://user:pass@host:465)")
	}
	var srv Server
	switch u.Scheme {
	case "smtp":
		srv.Port = 587
	case "smtps":
		srv.Port, srv.TLS = 465, true
	default:
		return Server{}, errors.New("must start with smtp:// (STARTTLS, port 587) or smtps:// (TLS, port 465)")
	}
	srv.Host = u.Hostname()
	if srv.Host == "" {
		return Server{}, errors.New("names no host (smtp://user:pass@host:587)")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, errors.New("has a port that is not 1-65535")
		}
		srv.Port = n
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return Server{}, errors.New("must be only scheme, user, password, host and port")
	}
	if u.User != nil {
		srv.User = u.User.Username()
		p, _ := u.User.Password()
		srv.Password = config.Secret(p)
	}
	return srv, nil
}

// ParseAddresses reads a comma-separated list of addresses.
func ParseAddresses(s string) ([]string, error) {
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a comma-separated list of email addresses", s)
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.String()
	}
	return out, nil
}

// Email sends to a list of recipients through one server.
type Email struct {
	Server Server
	From   string
	To     []string
	// RootCAs verify the server's certificate (nil: the system's roots).
	RootCAs *x509.CertPool
	// Timeout bounds connecting (30s when zero); the send is bounded by
	// the context.
	Timeout time.Duration
}

var _ alert.Channel = (*Email)(nil)

// Name is "email".
func (*Email) Name() string { return "email" }

// Send mails one message. Retryable: connection failures and the server's
// temporary (4xx) answers; a permanent refusal (5xx) is not retried.
func (e *Email) Send(ctx context.Context, m alert.Message) (bool, error) {
	msg := gomail.NewMsg()
	if err := msg.From(e.From); err != nil {
		return false, fmt.Errorf("email from %q: %w", e.From, err)
	}
	if err := msg.To(e.To...); err != nil {
		return false, fmt.Errorf("email to: %w", err)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, body(m))

	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{
		gomail.WithPort(e.Server.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: e.Server.Host, RootCAs: e.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	if e.Server.TLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if e.Server.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(e.Server.User), gomail.WithPassword(e.Server.Password.Reveal()))
	}
	c, err := gomail.NewClient(e.Server.Host, opts...)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		retry := true
		if se, ok := errors.AsType[*gomail.SendError](err); ok && !isNetwork(err) {
			retry = se.IsTemp()
		}
		return retry, fmt.Errorf("email via %s: %w", net.JoinHostPort(e.Server.Host, strconv.Itoa(e.Server.Port)), err)
	}
	return false, nil
}

func isNetwork(err error) bool {
	_, ok := errors.AsType[net.Error](err)
	return ok
}

// body is the mail's text: the alert line, then the facts.
func body(m alert.Message) string {
	var b strings.Builder
	b.WriteString(m.Text)
	b.WriteString("\n\n")
	if m.BranchID != "" {
		fmt.Fprintf(&b, "Branch: %s (%s)\nCheck:  %s\nState:  %s\n", m.BranchName, m.BranchID, m.Check, m.State)
		if !m.Since.IsZero() {
			fmt.Fprintf(&b, "Since:  %s\n", m.Since.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "Reason: %s\n", m.Reason)
	}
	fmt.Fprintf(&b, "Raised: %s\n\n-- Branchwatch aggregator\n", m.RaisedAt.UTC().Format(time.RFC3339))
	return b.String()
}

// oneLine keeps a subject on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
