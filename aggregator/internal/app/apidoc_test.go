package app_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/store"
)

// openAPIPath turns an echo route path into an OpenAPI one: ":id" is
// "{id}", a trailing "*" is "{asset}".
func openAPIPath(p string) string {
	p = regexp.MustCompile(`:([a-z_]+)`).ReplaceAllString(p, "{$1}")
	if strings.HasSuffix(p, "*") {
		p = strings.TrimSuffix(p, "*") + "{asset}"
	}
	return p
}

// servedRoutes are the server's routes as "METHOD /openapi/path", HEAD
// folded into GET (a HEAD route serves its GET).
func servedRoutes(t *testing.T, r *running) []string {
	t.Helper()
	var out []string
	for _, rt := range r.App.Server.Routes() {
		m := rt.Method
		switch m {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
		case http.MethodHead:
			m = http.MethodGet
		default:
			continue // echo's internal not-found and the like
		}
		if s := m + " " + openAPIPath(rt.Path); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIDescribesEveryRoute: every route the aggregator serves (the
// dashboard's pages included) is in /api/v1/openapi.json and nothing else
// is, and /api/v1 indexes exactly the served /api/v1 routes and the export.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	r := start(t, st, nil, app.Config{Routes: []app.RouteBuilder{dashboard.Routes}})
	served := servedRoutes(t, r)

	resp, body := get(t, r.URL+"/api/v1/openapi.json", bearer)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("/api/v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document (%v): openapi=%q", err, doc.OpenAPI)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(documented)
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("served but not in openapi.json: %s", s)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("in openapi.json but not served: %s", d)
		}
	}

	resp, body = get(t, r.URL+"/api/v1", bearer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1: %d %s", resp.StatusCode, body)
	}
	for _, slash := range []string{"/api/v1/", "/api/v1/branches/"} {
		if resp, b := get(t, r.URL+slash, bearer); resp.StatusCode != http.StatusOK || !json.Valid(b) {
			t.Errorf("%s: %d %.200s", slash, resp.StatusCode, b)
		}
	}
	var idx struct {
		OpenAPI string `json:"openapi"`
		Routes  []struct{ Method, Path, Summary string }
	}
	if err := json.Unmarshal(body, &idx); err != nil || idx.OpenAPI != "/api/v1/openapi.json" {
		t.Fatalf("/api/v1 index (%v): %s", err, body)
	}
	var indexed []string
	for _, rt := range idx.Routes {
		if rt.Summary == "" {
			t.Errorf("index entry %s %s has no summary", rt.Method, rt.Path)
		}
		indexed = append(indexed, rt.Method+" "+rt.Path)
	}
	var wantIndexed []string
	for _, s := range served {
		if strings.Contains(s, " /api/v1") || strings.HasSuffix(s, " /export.csv") {
			wantIndexed = append(wantIndexed, s)
		}
	}
	slices.Sort(indexed)
	if !slices.Equal(indexed, wantIndexed) {
		t.Errorf("/api/v1 indexes %v,\nwant the served API routes %v", indexed, wantIndexed)
	}
}

var (
	snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// looksLikeTime is a string that starts as a date and time do.
	looksLikeTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:`)
)

// checkJSON walks v: every object key snake_case, every time-like string
// RFC 3339, no number under a key that names a duration without its unit.
func checkJSON(t *testing.T, route, at string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: key %q at %s is not snake_case", route, k, at)
			}
			if _, isNum := val.(float64); isNum && (k == "duration" || strings.HasSuffix(k, "_duration")) {
				t.Errorf("%s: %s.%s is a duration without a unit in its name", route, at, k)
			}
			checkJSON(t, route, at+"."+k, val)
		}
	case []any:
		for _, val := range x {
			checkJSON(t, route, at+"[]", val)
		}
	case string:
		if looksLikeTime.MatchString(x) {
			if _, err := time.Parse(time.RFC3339, x); err != nil {
				t.Errorf("%s: %s = %q is not an RFC 3339 time", route, at, x)
			}
		}
	}
}

// TestAPIFieldsSnakeCaseTimesRFC3339: every JSON route of /api/v1 (the
// sync status's counters and duration included) answers snake_case keys
// and RFC 3339 times.
func TestAPIFieldsSnakeCaseTimesRFC3339(t *testing.T) {
	st, _ := store.NewDir(t.TempDir())
	seed(t, st)
	r := start(t, st, map[string]string{options.EnvExpected: "ghost"}, app.Config{})
	routes := []string{"/api/v1", "/api/v1/branches", "/api/v1/branches/andheri", "/api/v1/branches/andheri/metrics",
		"/api/v1/branches/andheri/drills", "/api/v1/branches/andheri/agent", "/api/v1/deployments",
		"/api/v1/metrics", "/api/v1/bad-documents", "/api/v1/alerts", "/api/v1/sync"}
	for _, route := range routes {
		resp, body := get(t, r.URL+route, bearer)
		var v any
		if err := json.Unmarshal(body, &v); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %v %s", route, resp.StatusCode, err, body)
		}
		checkJSON(t, route, "", v)
	}
	_, body := get(t, r.URL+"/api/v1/sync", bearer)
	var sync struct {
		LastSuccess string         `json:"last_success"`
		LastStats   map[string]any `json:"last_stats"`
	}
	if err := json.Unmarshal(body, &sync); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, sync.LastSuccess); err != nil {
		t.Errorf("last_success %q: %v", sync.LastSuccess, err)
	}
	for _, k := range []string{"full", "branches", "listed", "downloaded", "new_bad", "failures", "changed", "duration_seconds"} {
		if _, ok := sync.LastStats[k]; !ok {
			t.Errorf("last_stats lacks %q: %s", k, body)
		}
	}
	// The test's clock stands still, so the duration is 0 s; nanoseconds of
	// a real sync would be far above this bound.
	if d, ok := sync.LastStats["duration_seconds"].(float64); !ok || d < 0 || d > 600 {
		t.Errorf("last_stats.duration_seconds = %v, want seconds of a short sync", sync.LastStats["duration_seconds"])
	}
}
