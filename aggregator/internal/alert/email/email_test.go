package email_test

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/alert/email"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func roots(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in " + caFile)
	}
	return p
}

func server(t *testing.T, mp *testenv.Mailpit, scheme, user, password string) email.Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(mp.SMTPAddr)
	u := scheme + "://"
	if user != "" {
		u += user + ":" + password + "@"
	}
	srv, err := email.ParseURL(config.Secret(u + net.JoinHostPort(host, port)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

var msg = alert.Message{ID: 7, Kind: alert.KindDown, BranchID: "andheri", BranchName: "Andheri West", Check: "backup",
	State: freshness.Down, Reason: "last backup 2026-02-15 22:00", RaisedAt: time.Date(2026, 2, 17, 1, 0, 0, 0, time.UTC),
	Subject: "Branchwatch: Andheri West (andheri) backup DOWN",
	Text:    "Branchwatch: Andheri West (andheri) backup check is DOWN: last backup 2026-02-15 22:00"}

// TestEmailToMailpit sends through a real SMTP server with TLS from a test
// CA and authentication, and reads the message back through its API.
func TestEmailToMailpit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   testenv.MailpitMode
		scheme string
	}{
		{"starttls on submission", testenv.MailpitSTARTTLS, "smtp"},
		{"tls from the first byte", testenv.MailpitTLS, "smtps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := testenv.StartMailpit(t, tc.mode)
			e := &email.Email{Server: server(t, mp, tc.scheme, mp.User, mp.Password), From: "branchwatch@example.com",
				To: []string{"owner@example.com", "manager@example.com"}, RootCAs: roots(t, mp.CAFile), Timeout: 20 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := e.Send(ctx, msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := mp.Messages(t)
			if len(got) != 1 {
				t.Fatalf("mailpit holds %d messages, want 1", len(got))
			}
			m := got[0]
			if m.Subject != msg.Subject || m.From.Address != "branchwatch@example.com" || len(m.To) != 2 ||
				m.To[0].Address != "owner@example.com" || m.To[1].Address != "manager@example.com" {
				t.Errorf("received %+v", m)
			}
			if !strings.Contains(m.Text, msg.Text) || !strings.Contains(m.Text, "Reason: last backup 2026-02-15 22:00") {
				t.Errorf("body %q lacks the alert", m.Text)
			}
		})
	}
}

// TestEmailRefusals: a wrong password, an untrusted certificate and a
// server that is not there each fail, and never quote the password.
func TestEmailRefusals(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitSTARTTLS)
	free, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		email email.Email
		retry bool
	}{
		{"wrong password", email.Email{Server: server(t, mp, "smtp", mp.User, "wrong-Pa55"), RootCAs: roots(t, mp.CAFile)}, true},
		{"certificate of an unknown CA", email.Email{Server: server(t, mp, "smtp", mp.User, mp.Password)}, true},
		{"no server", email.Email{Server: email.Server{Host: "127.0.0.1", Port: free, User: "u", Password: "wrong-Pa55"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.email
			e.From, e.To, e.Timeout = "branchwatch@example.com", []string{"owner@example.com"}, 10*time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			retry, err := e.Send(ctx, msg)
			if err == nil {
				t.Fatal("sent")
			}
			if retry != tc.retry {
				t.Errorf("retry = %t, want %t (%v)", retry, tc.retry, err)
			}
			if strings.Contains(err.Error(), "Pa55") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("mailpit received %d messages from refused sends", n)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want email.Server
		err  bool
	}{
		{"smtp://u:p@mail.example", email.Server{Host: "mail.example", Port: 587, User: "u", Password: "p"}, false},
		{"smtps://mail.example", email.Server{Host: "mail.example", Port: 465, TLS: true}, false},
		{"smtp://mail.example:2525", email.Server{Host: "mail.example", Port: 2525}, false},
		{"http://mail.example", email.Server{}, true},
		{"smtp://", email.Server{}, true},
		{"smtp://mail.example:99999", email.Server{}, true},
		{"smtp://mail.example/path", email.Server{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := email.ParseURL(config.Secret(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ParseURL = %+v, %v; want %+v, error %t", got, err, tc.want, tc.err)
			}
			if err != nil && len(tc.in) > len("smtps://") && strings.Contains(err.Error(), tc.in) {
				t.Errorf("error quotes the URL: %v", err)
			}
		})
	}
}
