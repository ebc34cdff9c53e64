package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	httpserver "github.com/branchwatch/branchwatch/aggregator/internal/server"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/static"
)

// TestResponseHeadersAndHEAD asks the server for its routes (the
// dashboard's included) and, for every GET route, sends GET and HEAD with
// good credentials and HEAD without: HEAD answers as GET does (same
// status and Content-Type, no body; it was 405 everywhere, /healthz
// included), and every answer, refusals and errors included, carries the
// Content-Security-Policy (frame-ancestors 'none'), nosniff, X-Frame-Options
// DENY and Cache-Control no-store. Only the embedded assets may be cached.
func TestResponseHeadersAndHEAD(t *testing.T) {
	srv := testenv.StartS3(t)
	dumps := secSeed(t, srv.Store(t), map[string]string{"andheri": "Andheri"})
	a := startSecApp(t, srv, nil)
	params := strings.NewReplacer(":id", "andheri", ":name", strings.TrimPrefix(dumps["andheri"], "andheri/backups/"), "*", "app.css")
	query := map[string]string{
		"/export.csv": "?from=2026-02-12&to=2026-02-16", "/compare": "?from=2026-02-12&to=2026-02-16",
		"/api/v1/metrics": "?from=2026-02-12&to=2026-02-16",
	}
	checkHeaders := func(t *testing.T, what string, resp *http.Response, cacheable bool) {
		t.Helper()
		h := resp.Header
		if got := h.Get("Content-Security-Policy"); got != httpserver.ContentSecurityPolicy || !strings.Contains(got, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", what, got)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", what, got)
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", what, got)
		}
		if got := h.Get("Cache-Control"); !cacheable && got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, got)
		}
	}
	checked := map[string]bool{}
	for _, rt := range a.App.Server.Routes() {
		if rt.Method != http.MethodGet {
			continue
		}
		path := params.Replace(rt.Path) + query[rt.Path]
		cacheable := strings.HasPrefix(rt.Path, static.Prefix)
		t.Run(rt.Path, func(t *testing.T) {
			get, getBody := do(t, http.MethodGet, a.URL+path, basic, nil)
			head, headBody := do(t, http.MethodHead, a.URL+path, basic, nil)
			// (503: a readiness route may say not ready; HEAD must say the same.)
			if get.StatusCode >= 400 && get.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET %s: status %d: %.200s", path, get.StatusCode, getBody)
			}
			if head.StatusCode != get.StatusCode {
				t.Errorf("HEAD %s: status %d, GET %d", path, head.StatusCode, get.StatusCode)
			}
			if headBody != "" {
				t.Errorf("HEAD %s: a body of %d bytes", path, len(headBody))
			}
			if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
				t.Errorf("HEAD %s: Content-Type %q, GET %q", path, head.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
			}
			checkHeaders(t, "GET "+path, get, cacheable)
			checkHeaders(t, "HEAD "+path, head, cacheable)
			// Without credentials HEAD answers as GET does: 401 on every
			// route but the public health ones.
			anonGet, _ := do(t, http.MethodGet, a.URL+path, noCred, nil)
			anonHead, _ := do(t, http.MethodHead, a.URL+path, noCred, nil)
			if anonHead.StatusCode != anonGet.StatusCode {
				t.Errorf("HEAD %s without credentials: status %d, GET %d", path, anonHead.StatusCode, anonGet.StatusCode)
			}
			if rt.Path != "/healthz" && anonGet.StatusCode != http.StatusUnauthorized && !strings.HasPrefix(rt.Path, "/readyz") {
				t.Errorf("GET %s without credentials: status %d, want 401", path, anonGet.StatusCode)
			}
			checkHeaders(t, "HEAD without credentials "+path, anonHead, cacheable && anonHead.StatusCode == http.StatusOK)
		})
		checked[rt.Path] = true
	}
	for _, want := range []string{"/", "/branches/:id", "/compare", "/alerts", "/api/v1/branches", "/export.csv", "/metrics", "/healthz", static.Prefix + "*"} {
		if !checked[want] {
			t.Errorf("GET route %s was not checked", want)
		}
	}
	resp, body := do(t, http.MethodHead, a.URL+"/healthz", noCred, nil)
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /healthz without credentials: status %d, body %q", resp.StatusCode, body)
	}
	resp, _ = do(t, http.MethodGet, a.URL+"/no/such/page", basic, nil)
	checkHeaders(t, "a 404", resp, false)
	if resp, _ := do(t, http.MethodGet, a.URL+static.Path("app.css"), basic, nil); !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("versioned asset: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

// TestPagesNeedNoInlineCode parses every page: scripts come from files
// (src), and there is no style element, style attribute or event handler
// attribute, so the Content-Security-Policy needs no 'unsafe-inline'.
func TestPagesNeedNoInlineCode(t *testing.T) {
	srv := testenv.StartS3(t)
	secSeed(t, srv.Store(t), map[string]string{"andheri": "Andheri", "bandra": "Bandra"})
	a := startSecApp(t, srv, nil)
	for _, p := range []string{"/", "/branches/andheri", "/compare", "/compare?from=2026-02-12&to=2026-02-16", "/alerts", "/no/such/page/at/all"} {
		_, body := do(t, http.MethodGet, a.URL+p, basic, nil)
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if n := doc.Find("script:not([src])").Length(); n > 0 {
			t.Errorf("%s: %d inline scripts", p, n)
		}
		if n := doc.Find("style, [style]").Length(); n > 0 {
			t.Errorf("%s: %d inline styles", p, n)
		}
		doc.Find("*").Each(func(_ int, s *goquery.Selection) {
			for _, at := range s.Nodes[0].Attr {
				if strings.HasPrefix(strings.ToLower(at.Key), "on") {
					t.Errorf("%s: <%s %s=...>", p, goquery.NodeName(s), at.Key)
				}
			}
		})
		if strings.HasPrefix(p, "/no/") {
			continue
		}
		if doc.Find("script[src]").Length() == 0 || doc.Find("link[rel=stylesheet]").Length() == 0 {
			t.Errorf("%s: no script or stylesheet: the page is not the dashboard's", p)
		}
	}
}
