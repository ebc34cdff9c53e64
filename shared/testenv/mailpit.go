package testenv

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Mailpit is a real SMTP server (github.com/axllent/mailpit) on loopback,
// serving TLS with a certificate from a throwaway test CA and requiring
// authentication; its HTTP API reads what it received.
type Mailpit struct {
	SMTPAddr string // 127.0.0.1:port
	APIURL   string // http://127.0.0.1:port
	CAFile   string // PEM of the test CA that signed the server's certificate
	User     string
	Password string

	bin, dir string
	args     []string
}

// MailpitMode is how the server takes TLS.
type MailpitMode int

// Mailpit modes.
const (
	MailpitSTARTTLS MailpitMode = iota // plain connect, STARTTLS required (port 587 style)
	MailpitTLS                         // TLS from the first byte (port 465 style)
)

// FindMailpit finds the mailpit binary (PATH, then $GOPATH/bin). Missing,
// it fails the test where BRANCHWATCH_REQUIRE_TOOLS=1 (.ci/run installs
// it); elsewhere the test is skipped with a WARNING line on standard error.
func FindMailpit(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
		if p := filepath.Join(dir, "bin", "mailpit"); isExecutable(p) {
			return p
		}
	}
	MissingTool(tb, "no mailpit: install it with `go install github.com/axllent/mailpit@v1.33.1` (.ci/run does it)")
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// StartMailpit starts mailpit for the test and stops it at cleanup.
func StartMailpit(tb testing.TB, mode MailpitMode) *Mailpit {
	tb.Helper()
	m := NewMailpit(tb, mode)
	m.Start(tb)
	return m
}

// NewMailpit prepares a mailpit (ports, test CA, credentials) without
// starting it: until Start, its SMTP port refuses connections, as a mail
// server that is down does.
func NewMailpit(tb testing.TB, mode MailpitMode) *Mailpit {
	tb.Helper()
	bin := FindMailpit(tb)
	dir := tb.TempDir()
	m := &Mailpit{User: "branchwatch", Password: "mail-Pa55-" + strconv.Itoa(os.Getpid())}
	certFile, keyFile, caFile := writeTestCA(tb, dir)
	m.CAFile = caFile
	hash, err := bcrypt.GenerateFromPassword([]byte(m.Password), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	authFile := filepath.Join(dir, "smtp-auth")
	if err := os.WriteFile(authFile, []byte(m.User+":"+string(hash)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	ports, err := freePorts(2)
	if err != nil {
		tb.Fatal(err)
	}
	smtpPort, httpPort := ports[0], ports[1]
	m.SMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))
	m.APIURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	m.args = []string{"--smtp", m.SMTPAddr, "--listen", strings.TrimPrefix(m.APIURL, "http://"),
		"--database", filepath.Join(dir, "mailpit.db"), "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile,
		"--smtp-auth-file", authFile, "--smtp-disable-rdns"}
	if mode == MailpitTLS {
		m.args = append(m.args, "--smtp-require-tls")
	} else {
		m.args = append(m.args, "--smtp-require-starttls")
	}
	m.bin, m.dir = bin, dir
	return m
}

// Start runs mailpit until the test ends and returns once it answers.
func (m *Mailpit) Start(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, m.bin, m.args...)
	logFile, err := os.Create(filepath.Join(m.dir, "mailpit.log"))
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start mailpit: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
	})
	// Wait until both ports answer (start-up, not a retry of product work).
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.SMTPAddr, time.Second)
		if err == nil {
			c.Close()
			if resp, err := http.Get(m.APIURL + "/api/v1/info"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			tb.Fatalf("mailpit did not start within 60s: %s", tail(string(log), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MailpitMessage is one received message as the API summarizes it, with
// its text body.
type MailpitMessage struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	From    struct {
		Address string `json:"Address"`
	} `json:"From"`
	To []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Text string `json:"Text"`
}

// Messages returns every message received, newest first, with bodies.
func (m *Mailpit) Messages(tb testing.TB) []MailpitMessage {
	tb.Helper()
	var list struct {
		Messages []MailpitMessage `json:"messages"`
	}
	m.getJSON(tb, "/api/v1/messages", &list)
	for i := range list.Messages {
		var full MailpitMessage
		m.getJSON(tb, "/api/v1/message/"+list.Messages[i].ID, &full)
		list.Messages[i].Text = full.Text
	}
	return list.Messages
}

func (m *Mailpit) getJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	resp, err := http.Get(m.APIURL + path)
	if err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit API %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
}

// writeTestCA writes a throwaway CA and a server certificate it signed for
// 127.0.0.1 and localhost.
func writeTestCA(tb testing.TB, dir string) (certFile, keyFile, caFile string) {
	tb.Helper()
	certFile, keyFile, caFile, _, err := newTestCA(dir, "localhost")
	if err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile, caFile
}

// freePorts finds n distinct free loopback ports, holding each until all
// are found (FreePort twice in a row may hand out the same port).
func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
