package dashboard_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

// artifactDir holds the browser test's screenshots (ignored by git).
const artifactDir = "testdata/artifacts"

// chromium finds Debian's chromium; .ci/run installs it when missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.MissingTool(t, "chromium is not installed (apt-get install chromium; .ci/run does it)")
	return ""
}

// browserSession is a headless Chromium that answers the dashboard's basic
// auth challenge the way a user would, and records page exceptions and
// the console's error entries (Content-Security-Policy violations among
// them).
type browserSession struct {
	ctx        context.Context
	challenges atomic.Int64

	mu         sync.Mutex
	exceptions []string
	consoleErr []string
}

// cspViolations are the recorded console errors that report a
// Content-Security-Policy violation.
func (b *browserSession) cspViolations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.consoleErr {
		if strings.Contains(e, "Content Security Policy") {
			out = append(out, e)
		}
	}
	return out
}

func newBrowser(t *testing.T) *browserSession {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	// The whole browser session is bounded, so a hang fails the test
	// rather than the CI job.
	base, cancelBase := context.WithTimeout(context.Background(), 2*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()   // closes the tab and the browser
		cancelAlloc() // waits for the browser process to exit
		cancelBase()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browserSession{ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			b.exceptions = append(b.exceptions, ev.ExceptionDetails.Text)
			b.mu.Unlock()
		case *cdplog.EventEntryAdded:
			if ev.Entry != nil && ev.Entry.Level == cdplog.EntryLevelError {
				b.mu.Lock()
				b.consoleErr = append(b.consoleErr, string(ev.Entry.Source)+": "+ev.Entry.Text)
				b.mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// With request interception on, every request pauses until continued,
	// and a 401 challenge arrives as AuthRequired: answer it with the
	// owner's credentials, as the browser's login prompt would.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auths := chromedp.Events(ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range auths {
			if err != nil {
				return
			}
			b.challenges.Add(1)
			_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{
				RequestID: ev.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{
					Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password,
				},
			})
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatal(err)
	}
	return b
}

// eval runs JavaScript in the page and decodes its result.
func eval[T any](t *testing.T, b *browserSession, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browserSession) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// navigateBy runs steps that load a new page (a click on a link or a form
// button) and checks the page's status.
func (b *browserSession) navigateBy(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		t.Fatal(err)
	}
	if resp == nil {
		t.Fatal("no page loaded")
	}
	if resp.Status != 200 {
		t.Fatalf("%s: status %d", resp.URL, resp.Status)
	}
}

func (b *browserSession) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join(artifactDir, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

func TestBrowserEndToEnd(t *testing.T) {
	chromium(t) // skip before starting anything when there is no browser
	e, bk, _ := s3Env(t)
	base := e.serve(t)
	b := newBrowser(t)

	// Overview: figures, the down branch, in words.
	b.do(t, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`[data-testid="branches"]`)))
	if b.challenges.Load() == 0 {
		t.Error("the overview loaded without asking for credentials")
	}
	facts := eval[map[string]string](t, b, `(() => {
		const cell = (id, tid) => document.querySelector('[data-testid="branch-row"][data-branch-id="' + id + '"] [data-testid="' + tid + '"]');
		return {
			rows: String(document.querySelectorAll('[data-testid="branch-row"]').length),
			revenue: cell("`+healthy+`", "net-revenue").innerText.trim(),
			bills: cell("`+healthy+`", "bills").innerText.trim(),
			staleState: document.querySelector('[data-branch-id="`+stale+`"]').dataset.state,
			staleWords: cell("`+stale+`", "metrics-state").querySelector(".state").innerText.trim(),
			staleColour: getComputedStyle(cell("`+stale+`", "metrics-state").querySelector(".state")).color,
			upColour: getComputedStyle(cell("`+healthy+`", "metrics-state").querySelector(".state")).color,
			banner: document.querySelector('[data-testid="alerts-banner"]').dataset.problems,
			total: document.querySelector('[data-testid="total-net-revenue"]').innerText.trim(),
			css: String(document.styleSheets.length > 0 && document.styleSheets[0].cssRules.length > 10),
		};
	})()`)
	h := bk.latest(healthy)
	var total int64
	// The headline date's total: the stale branch's older day is not in it.
	for _, id := range []string{healthy, withBad} {
		total += bk.latest(id).NetRevenue
	}
	want := map[string]string{
		"rows": "4", "revenue": format.Money(h.NetRevenue), "bills": format.Count(h.TotalBills),
		"staleState": "down", "banner": "4", "total": format.Money(total), "css": "true",
	}
	for k, v := range want {
		if facts[k] != v {
			t.Errorf("overview %s = %q, want %q", k, facts[k], v)
		}
	}
	if !strings.Contains(facts["staleWords"], "Down") {
		t.Errorf("the down branch says %q, not Down in words", facts["staleWords"])
	}
	if facts["staleColour"] == facts["upColour"] {
		t.Errorf("down and up badges have the same colour %s", facts["staleColour"])
	}
	b.screenshot(t, "overview.png")

	// A branch page: charts drawn as SVG, the daily table, a 7-day range
	// picked with the form.
	b.navigateBy(t, chromedp.Click(css(`[data-branch-id="`+healthy+`"] [data-testid="branch-name"]`)))
	page := eval[map[string]any](t, b, `({
		path: location.pathname,
		title: document.querySelector('[data-testid="branch-title"]').innerText,
		charts: document.querySelectorAll('figure.chart svg').length,
		marks: document.querySelectorAll('[data-testid="chart-net-revenue"] circle').length,
		days: document.querySelectorAll('[data-testid="day-row"]').length,
		chartWidth: document.querySelector('figure.chart svg').getBoundingClientRect().width,
	})`)
	if page["path"] != "/branches/"+healthy || page["title"] != h.BranchName {
		t.Errorf("branch page %v, %v", page["path"], page["title"])
	}
	if page["charts"] != float64(3) || page["marks"] != float64(29) || page["days"] != float64(29) {
		t.Errorf("branch page: %v charts, %v marks, %v days; want 3, 29, 29", page["charts"], page["marks"], page["days"])
	}
	if w, _ := page["chartWidth"].(float64); w < 200 {
		t.Errorf("chart drawn %v px wide", w)
	}
	// Picking a preset submits the form by itself (the page's small script).
	b.navigateBy(t, chromedp.SetValue(css(`[data-testid="range-days"]`), "7"))
	if got := eval[string](t, b, `location.search + " " + document.querySelectorAll('[data-testid="day-row"]').length`); !strings.HasPrefix(got, "?days=7&") || !strings.HasSuffix(got, " 6") {
		t.Errorf("after choosing 7 days: %q, want ?days=7 and 6 day rows", got)
	}
	// A custom range goes through the Show button.
	b.do(t,
		chromedp.SetValue(css(`[data-testid="range-days"]`), "custom"),
		chromedp.SetValue(css(`[data-testid="range-from"]`), "2026-02-01"),
		chromedp.SetValue(css(`[data-testid="range-to"]`), "2026-02-05"),
	)
	b.navigateBy(t, chromedp.Click(css(`[data-testid="range-form"] button[type="submit"]`)))
	if got := eval[int](t, b, `document.querySelectorAll('[data-testid="day-row"]').length`); got != 5 {
		t.Errorf("after a custom range of 5 days: %d day rows", got)
	}
	b.screenshot(t, "branch.png")

	// The CSV of the same range, downloaded by the browser with the same
	// credentials.
	dir := t.TempDir()
	progress := chromedp.Events(b.ctx, browser.DownloadProgress)
	b.do(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
		})
		return err
	}), chromedp.Click(css(`[data-testid="csv-link"]`)))
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// The page's link gives the file for people: a byte order mark,
	// headings in words, rupees.
	if !bytes.HasPrefix(data, []byte("\uFEFF")) {
		t.Error("the downloaded CSV has no byte order mark")
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("downloaded CSV: %v", err)
	}
	if i := slices.Index(metrics.FieldNames, "gross_revenue"); recs[0][i] != "Gross revenue (₹)" {
		t.Errorf("CSV header %v", recs[0])
	}
	if len(recs)-1 != 5 {
		t.Errorf("CSV has %d rows, want the page's 5", len(recs)-1)
	}
	if err := os.WriteFile(filepath.Join(artifactDir, "branch.csv"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	// The refresh button: a POST form, accepted from the dashboard's own page.
	b.do(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`[data-testid="refresh-button"]`)))
	b.navigateBy(t, chromedp.Click(css(`[data-testid="refresh-button"]`)))
	if got := eval[string](t, b, `location.pathname + " " + document.querySelector('[data-testid="last-synced"]').innerText`); !strings.HasPrefix(got, "/ Last synced") {
		t.Errorf("after refresh: %q", got)
	}

	// Compare and alerts, reached through the navigation.
	b.navigateBy(t, chromedp.Click(css(`[data-testid="nav"] a[href="/compare"]`)))
	cmp := eval[map[string]any](t, b, `({
		rows: document.querySelectorAll('[data-testid="compare-row"]').length,
		staleDays: document.querySelector('[data-testid="compare-row"][data-branch-id="`+stale+`"] [data-testid="days"]').innerText.trim(),
		csv: document.querySelector('[data-testid="csv-link"]').getAttribute("href"),
	})`)
	if cmp["rows"] != float64(4) || cmp["staleDays"] != "23 / 30" /* its documents end on 2026-02-10 */ || !strings.HasPrefix(cmp["csv"].(string), "/export.csv?from=2026-01-19&headers=labels&to=2026-02-17&units=rupees") {
		t.Errorf("compare page: %v", cmp)
	}
	b.screenshot(t, "compare.png")
	b.navigateBy(t, chromedp.Click(css(`[data-testid="nav"] a[href="/alerts"]`)))
	if got := eval[int](t, b, `document.querySelectorAll('[data-testid="problem"][data-branch-id="`+stale+`"]').length`); got != 2 {
		t.Errorf("alerts page lists %d problems of the stale branch, want 2", got)
	}
	b.screenshot(t, "alerts.png")

	// Every page at a phone's width and a laptop's: the document is never
	// wider than the viewport (a wide table scrolls inside its own box),
	// and axe-core finds no serious or critical violation.
	axe := axeSource(t)
	pages := []string{"/", "/branches/" + healthy, "/branches/" + healthy + "?days=365", "/compare", "/alerts"}
	for _, vp := range []struct {
		w, h   int
		mobile bool
	}{{390, 844, true}, {1366, 768, false}} {
		for _, path := range pages {
			emulate := chromedp.EmulateViewport(int64(vp.w), int64(vp.h))
			if vp.mobile {
				emulate = chromedp.EmulateViewport(int64(vp.w), int64(vp.h), chromedp.EmulateMobile)
			}
			b.do(t, emulate, chromedp.Navigate(base+path), chromedp.WaitVisible(css("main")))
			w := eval[map[string]float64](t, b, `({scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, inner: window.innerWidth})`)
			if w["scroll"] > w["inner"] || w["body"] > w["inner"] {
				t.Errorf("%s at %d px: the document is %v px wide (body %v), wider than the %v px viewport", path, vp.w, w["scroll"], w["body"], w["inner"])
			}
			for _, v := range runAxe(t, b, axe) {
				t.Errorf("%s at %d px: axe %s violation %s: %s (%s)", path, vp.w, v.Impact, v.ID, v.Help, strings.Join(v.Targets, "; "))
			}
		}
	}
	// The axe check can fail: an image without a text alternative is a
	// critical violation.
	eval[bool](t, b, `(() => { const i = document.createElement("img"); i.src = "/none.png"; document.querySelector("main").appendChild(i); return true; })()`)
	if v := runAxe(t, b, axe); !slices.ContainsFunc(v, func(v axeViolation) bool { return v.ID == "image-alt" }) {
		t.Errorf("an image without alt raised no axe violation (%v): the check above proves nothing", v)
	}
	b.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("main")))
	b.screenshot(t, "overview-phone.png")
	// The branch page on a phone: one card per day (or week or month),
	// every card and every figure in it inside the viewport, each figure
	// under its label; the group switcher shows one group per card.
	for _, c := range []struct {
		path, row string
	}{{"/branches/" + healthy, "day-row"}, {"/branches/" + healthy + "?days=365&rows=week", "period-row"}} {
		b.do(t, chromedp.Navigate(base+c.path), chromedp.WaitVisible(css("main")))
		cards := eval[map[string]any](t, b, `(() => {
			const inner = document.documentElement.clientWidth, out = {rows: 0, cards: 0, cut: [], unlabelled: [], figures: 0};
			for (const tr of document.querySelectorAll('[data-testid="daily-table"] tbody tr[data-testid="`+c.row+`"]')) {
				out.rows++;
				const r = tr.getBoundingClientRect();
				if (getComputedStyle(tr).display !== "grid" || r.width === 0) continue;
				out.cards++;
				if (r.left < 0 || r.right > inner) out.cut.push("card " + tr.innerText.split("\n")[0] + " spans " + r.left + ".." + r.right);
				for (const td of tr.querySelectorAll("td")) {
					const d = td.getBoundingClientRect();
					if (td.offsetParent === null) continue;
					out.figures++;
					if (d.left < r.left - 0.5 || d.right > r.right + 0.5 || td.scrollWidth > td.clientWidth + 1) out.cut.push(td.dataset.testid + " of " + tr.innerText.split("\n")[0]);
					const label = getComputedStyle(td, "::before").content;
					if (!label || label === "none" || !label.includes(td.dataset.label)) out.unlabelled.push(td.dataset.testid);
				}
			}
			return out;
		})()`)
		rows, _ := cards["rows"].(float64)
		if rows == 0 || cards["cards"] != rows {
			t.Errorf("%s at 390 px: %v of %v rows shown as cards", c.path, cards["cards"], rows)
		}
		if cards["figures"] != rows*18 {
			t.Errorf("%s at 390 px: %v figures visible in %v cards, want 18 each", c.path, cards["figures"], rows)
		}
		if cut, _ := cards["cut"].([]any); len(cut) > 0 {
			t.Errorf("%s at 390 px: cut off: %v", c.path, cut)
		}
		if u, _ := cards["unlabelled"].([]any); len(u) > 0 {
			t.Errorf("%s at 390 px: figures without their label: %v", c.path, u)
		}
		if w := eval[[]float64](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("%s at 390 px: the page scrolls sideways (%v px in %v)", c.path, w[0], w[1])
		}
		b.screenshot(t, "branch-phone-"+c.row+"s.png")
	}
	b.do(t, chromedp.Navigate(base+"/branches/"+healthy), chromedp.WaitVisible(css("main")))
	b.do(t, chromedp.Click(css(`[data-testid="group-profit"]`)))
	shown := eval[[]string](t, b, `[...document.querySelector('[data-testid="day-row"]').querySelectorAll("td")].filter(td => td.offsetParent !== null).map(td => td.dataset.testid)`)
	if !slices.Equal(shown, []string{"gross_profit", "net_profit", "total_tips"}) {
		t.Errorf("with Profit picked the card shows %v", shown)
	}
	if over := eval[float64](t, b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		t.Errorf("with one group picked the page is %v px wider than a phone", over)
	}
	b.screenshot(t, "branch-phone.png")
	// At a laptop's width the table stays a table, its date column sticky
	// while it scrolls inside its box.
	b.do(t, chromedp.EmulateViewport(1366, 768), chromedp.Navigate(base+"/branches/"+healthy), chromedp.WaitVisible(css("main")))
	if got := eval[string](t, b, `getComputedStyle(document.querySelector('[data-testid="day-row"] th')).position + " " + getComputedStyle(document.querySelector('[data-testid="day-row"]')).display`); got != "sticky table-row" {
		t.Errorf("at 1366 px the date cell and row are %q, want sticky table-row", got)
	}

	// Every page, the charts and the range form's script ran under the
	// Content-Security-Policy without a violation.
	if v := b.cspViolations(); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %q", v)
	}
	// The check can fail: an inline style added to the page is refused
	// and reported.
	eval[bool](t, b, `(() => { const s = document.createElement("style"); s.textContent = "body { color: red }"; document.head.appendChild(s); return true; })()`)
	deadline := time.Now().Add(10 * time.Second)
	for len(b.cspViolations()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(b.cspViolations()) == 0 {
		t.Error("an inline style raised no reported Content-Security-Policy violation: the check above proves nothing")
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %v", b.exceptions)
	}
}

// The pinned axe-core, vendored under testdata/axe-core (see its README).
const (
	axeVersion = "4.14.1"
	axeSHA256  = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
)

// axeSource reads the vendored axe-core and checks it is the pinned file.
func axeSource(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("testdata/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core %s: %v", axeVersion, err)
	}
	if sum := sha256.Sum256(src); hex.EncodeToString(sum[:]) != axeSHA256 {
		t.Fatalf("testdata/axe-core/axe.min.js is not axe-core %s (SHA-256 %x)", axeVersion, sum)
	}
	return string(src)
}

// axeViolation is one failed axe rule on a page.
type axeViolation struct {
	ID, Impact, Help string
	Targets          []string
}

// runAxe injects axe-core into the current page, runs it, and returns the
// serious and critical violations.
func runAxe(t *testing.T, b *browserSession, src string) []axeViolation {
	t.Helper()
	if !eval[bool](t, b, `(() => { if (!window.axe) { (0, eval)(`+strconv.Quote(src)+`); } return typeof window.axe === "object"; })()`) {
		t.Fatal("axe-core did not load")
	}
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	return v
}
