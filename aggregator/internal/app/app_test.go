package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	httpserver "github.com/branchwatch/branchwatch/aggregator/internal/server"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.Main(m)
	if bigData.snapDir != "" {
		_ = os.RemoveAll(bigData.snapDir)
	}
	os.Exit(code)
}

const (
	user     = "owner"
	password = "correct horse battery staple"
	token    = "0123456789abcdef0123456789abcdef"
)

// now is the tests' clock: 2026-02-17 12:00 IST, before that day's deadlines.
var now = time.Date(2026, 2, 17, 12, 0, 0, 0, fixture.IST)

// running is an App serving on loopback.
type running struct {
	URL  string
	App  *app.App
	stop func()
}

// start seeds nothing: callers put objects in st first. env adds settings.
func start(t *testing.T, st store.Store, env map[string]string, cfg app.Config) *running {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		options.EnvListen: "127.0.0.1:0", options.EnvDataDir: t.TempDir(), options.EnvBucketDir: "unused",
		options.EnvUser: user, options.EnvPasswordBcrypt: string(hash), options.EnvToken: token,
	}
	maps.Copy(vars, env)
	o, err := options.Load(config.NewReader(config.MapLookup(vars)), options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	a, err := app.Build(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("app stopped at start: %v", err)
	}
	r := &running{URL: "http://" + addr, App: a}
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app stopped with %v", err)
		}
	}
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
		for _, secret := range []string{password, token, string(hash)} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the logs:\n%s", logs.String())
			}
		}
	})
	// Wait for the first sync, as the dashboard would.
	if err := a.Service.RefreshIncremental(context.Background()); err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	return r
}

type cred func(*http.Request)

var (
	noCred     cred = func(*http.Request) {}
	basic      cred = func(r *http.Request) { r.SetBasicAuth(user, password) }
	wrongPass  cred = func(r *http.Request) { r.SetBasicAuth(user, "wrong") }
	wrongUser  cred = func(r *http.Request) { r.SetBasicAuth("admin", password) }
	bearer     cred = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	wrongToken cred = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", len(token))) }
)

func get(t *testing.T, url string, c cred) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func seed(t *testing.T, st store.Store) {
	t.Helper()
	for d := range 5 {
		date := fixture.Date("2026-02-12", d)
		fixture.PutDoc(t, st, fixture.Doc("andheri", date, int64(d)))
		evil := fixture.Doc("bandra", date, int64(d))
		evil.BranchName = `=HYPERLINK("http://x","click")`
		evil.RefundAmount += 50_000_000 // net figures go negative
		evil.Derive()
		fixture.PutDoc(t, st, evil)
		day, _ := time.Parse("2006-01-02", date)
		fixture.PutBackup(t, st, "andheri", time.Date(day.Year(), day.Month(), day.Day(), 22, 0, 5, 0, time.UTC), 5000)
	}
}

func TestAuthOnEveryRoute(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	// Every wrong attempt must meet a 401 here, not the login limits'
	// 429 (TestLoginFlood tests those).
	r := start(t, st, nil, app.Config{ServerOptions: func(o *httpserver.Options) { o.Login.Burst = 1000 }})
	routes := []struct {
		path string
		want int // with good credentials
	}{
		{"/", http.StatusNotFound}, // the dashboard is registered by its own package
		{"/branches/andheri", http.StatusNotFound},
		{"/api/v1/branches", http.StatusOK},
		{"/api/v1/branches/andheri", http.StatusOK},
		{"/api/v1/branches/andheri/metrics?from=2026-02-12&to=2026-02-13", http.StatusOK},
		{"/api/v1/metrics", http.StatusOK},
		{"/api/v1/bad-documents", http.StatusOK},
		{"/api/v1/alerts", http.StatusOK},
		{"/api/v1/sync", http.StatusOK},
		{"/export.csv?from=2026-02-12&to=2026-02-16", http.StatusOK},
		{"/metrics", http.StatusOK},
		{"/no/such/route", http.StatusNotFound},
	}
	for _, rt := range routes {
		t.Run(rt.path, func(t *testing.T) {
			for _, c := range []struct {
				name string
				cred cred
				want int
			}{
				{"none", noCred, http.StatusUnauthorized},
				{"wrong password", wrongPass, http.StatusUnauthorized},
				{"wrong user", wrongUser, http.StatusUnauthorized},
				{"wrong token", wrongToken, http.StatusUnauthorized},
				{"basic", basic, rt.want},
				{"bearer", bearer, rt.want},
			} {
				resp, _ := get(t, r.URL+rt.path, c.cred)
				if resp.StatusCode != c.want {
					t.Errorf("%s credentials: status %d, want %d", c.name, resp.StatusCode, c.want)
				}
				if c.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s credentials: 401 without a Basic challenge", c.name)
				}
			}
		})
	}
	resp, _ := get(t, r.URL+"/healthz", noCred)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz without credentials: %d", resp.StatusCode)
	}
}

func TestPathTraversal(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	r := start(t, st, nil, app.Config{})
	name := "andheri_20260216_220005.dump"
	for _, p := range []string{
		"/api/v1/branches/..",
		"/api/v1/branches/..%2Fbandra",
		"/api/v1/branches/andheri%2F..%2Fbandra",
		"/api/v1/branches/%2E%2E/metrics",
		"/api/v1/branches/bandra/backups/..%2F..%2Fandheri%2Fbackups%2F" + name + "/download",
		"/api/v1/branches/andheri/backups/..%2F" + name + "/download",
		"/api/v1/branches/andheri/backups/" + name + "%2F..%2F..%2Fbandra/download",
		"/export.csv?from=2026-02-12&to=2026-02-16&branch=..%2Fandheri",
	} {
		resp, body := get(t, r.URL+p, basic)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d (%s), want 404 or 400", p, resp.StatusCode, body)
		}
	}
	// The real name does resolve (a directory store cannot presign: 501).
	resp, _ := get(t, r.URL+"/api/v1/branches/andheri/backups/"+name+"/download", basic)
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("existing backup: status %d, want 501 from a directory store", resp.StatusCode)
	}
}

func TestExportCSV(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	r := start(t, st, nil, app.Config{})
	cases := []struct {
		name, query, file string
		rows              int
		rupees            bool
	}{
		{"every branch", "from=2026-02-12&to=2026-02-16", "branchwatch-metrics_2026-02-12_2026-02-16.csv", 10, false},
		{"one branch, part of the range", "from=2026-02-13&to=2026-02-14&branch=bandra", "branchwatch-metrics_2026-02-13_2026-02-14_bandra.csv", 2, false},
		{"two branches, repeated branch=", "from=2026-02-13&to=2026-02-14&branch=bandra&branch=andheri", "branchwatch-metrics_2026-02-13_2026-02-14_andheri_bandra.csv", 4, false},
		{"rupees", "from=2026-02-12&to=2026-02-12&units=rupees", "branchwatch-metrics_2026-02-12_2026-02-12.csv", 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, r.URL+"/export.csv?"+c.query, basic)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+c.file+`"` {
				t.Errorf("Content-Disposition = %q", cd)
			}
			recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(recs[0], ",") != strings.Join(metrics.FieldNames, ",") {
				t.Fatalf("header = %v", recs[0])
			}
			if len(recs)-1 != c.rows {
				t.Fatalf("%d rows, want %d", len(recs)-1, c.rows)
			}
			col := map[string]int{}
			for i, n := range recs[0] {
				col[n] = i
			}
			for _, row := range recs[1:] {
				if row[col["branch_id"]] != "bandra" {
					continue
				}
				if got := row[col["branch_name"]]; got != `'=HYPERLINK("http://x","click")` {
					t.Errorf("branch_name cell = %q, want it neutralised", got)
				}
				net := row[col["net_revenue"]]
				if !strings.HasPrefix(net, "-") || strings.HasPrefix(net, "'") {
					t.Errorf("negative net_revenue cell = %q, want a plain negative number", net)
				}
				if c.rupees != strings.Contains(net, ".") {
					t.Errorf("net_revenue %q in the wrong units (rupees=%v)", net, c.rupees)
				}
			}
		})
	}
	for _, q := range []string{"", "from=2026-02-12", "from=2026-02-30&to=2026-03-01", "from=2026-02-14&to=2026-02-12", "from=2026-02-12&to=2026-02-13&units=dollars"} {
		if resp, _ := get(t, r.URL+"/export.csv?"+q, basic); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("export.csv?%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestAPIAndPrometheus(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	fixture.Put(t, st, fixture.MetricsKey("andheri", "2026-02-01"), []byte("{not json"), nil)
	r := start(t, st, map[string]string{options.EnvExpected: "ghost"}, app.Config{})

	_, body := get(t, r.URL+"/api/v1/branches", bearer)
	var list struct {
		Branches []struct {
			ID           string `json:"id"`
			BadDocuments int    `json:"bad_documents"`
			Metrics      struct {
				State string `json:"state"`
			} `json:"metrics_check"`
			Backup struct {
				State string `json:"state"`
			} `json:"backup_check"`
		} `json:"branches"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := map[string][3]string{"andheri": {"up", "up", "1"}, "bandra": {"up", "never", "0"}, "ghost": {"never", "never", "0"}}
	if len(list.Branches) != len(want) {
		t.Fatalf("branches = %+v", list.Branches)
	}
	for _, b := range list.Branches {
		w := want[b.ID]
		if b.Metrics.State != w[0] || b.Backup.State != w[1] || itoa(b.BadDocuments) != w[2] {
			t.Errorf("%s: metrics %s backup %s bad %d, want %v", b.ID, b.Metrics.State, b.Backup.State, b.BadDocuments, w)
		}
	}

	_, body = get(t, r.URL+"/api/v1/branches/andheri/metrics?from=2026-02-13&to=2026-02-14", bearer)
	var docs struct{ Documents []metrics.Document }
	if err := json.Unmarshal(body, &docs); err != nil || len(docs.Documents) != 2 || docs.Documents[0].SummaryDate != "2026-02-13" {
		t.Fatalf("metrics: %v %s", err, body)
	}

	_, body = get(t, r.URL+"/api/v1/bad-documents", bearer)
	if !strings.Contains(string(body), `"date":"2026-02-01"`) || !strings.Contains(string(body), "malformed") {
		t.Errorf("bad documents: %s", body)
	}

	_, body = get(t, r.URL+"/metrics", bearer)
	for _, line := range []string{
		`branchwatch_check_state{branch="andheri",check="backup",state="up"} 1`,
		`branchwatch_check_state{branch="ghost",check="metrics",state="never"} 1`,
		`branchwatch_check_up{branch="bandra",check="backup"} 0`,
		`branchwatch_last_backup_size_bytes{branch="andheri"} 5000`,
		`branchwatch_bad_documents{branch="andheri"} 1`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	wantDate := float64(time.Date(2026, 2, 16, 0, 0, 0, 0, fixture.IST).Unix())
	if got := sample(string(body), `branchwatch_last_metrics_date_timestamp_seconds{branch="andheri"}`); got != wantDate {
		t.Errorf("last metrics date gauge = %v, want %v", got, wantDate)
	}

	_, body = get(t, r.URL+"/api/v1/alerts", bearer)
	var al struct {
		Current []alert.Problem
		History []alert.Record
	}
	if err := json.Unmarshal(body, &al); err != nil {
		t.Fatal(err)
	}
	if len(al.Current) != 3 || len(al.History) != 3 {
		t.Errorf("alerts: %d current, %d history, want 3 and 3 (bandra backup, ghost metrics and backup): %s", len(al.Current), len(al.History), body)
	}
}

// sample is the value of one series in a Prometheus exposition, or -1.
func sample(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func itoa(n int) string { return itoa64(int64(n)) }

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestRefreshAndBodyLimit(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	r := start(t, st, nil, app.Config{})
	fixture.PutDoc(t, st, fixture.Doc("powai", "2026-02-16", 1))
	post := func(body []byte, hdr map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, r.URL+"/api/v1/refresh", bytes.NewReader(body))
		bearer(req)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(bytes.Repeat([]byte("x"), 1<<20), nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB body: status %d, want 413", code)
	}
	if code := post(nil, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site refresh: status %d, want 403", code)
	}
	if _, ok := r.App.Service.Branch("powai"); ok {
		t.Fatal("powai known before the refresh")
	}
	if code := post(nil, nil); code != http.StatusOK {
		t.Fatalf("refresh: status %d", code)
	}
	if _, ok := r.App.Service.Branch("powai"); !ok {
		t.Error("a new branch is not found by an on-demand refresh")
	}
}
