package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestSyncBannerInWords: a failed sync is one line in words on every
// page; the SDK's error, with its request and host ids, stays behind a
// disclosure. The alerts page lists the aggregator's own sync check.
func TestSyncBannerInWords(t *testing.T) {
	var deny atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if deny.Load() {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>` +
					`<Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7==</HostId></Error>`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	st := srv.Store(t)
	seed(t, st)
	env := srv.Env()
	env["AGGREGATOR_BUCKET_DIR"] = ""
	e := newEnv(t, st, env)
	deny.Store(true)
	if err := e.App.Service.Refresh(context.Background()); err == nil {
		t.Fatal("a sync of a bucket that denies access succeeded")
	}
	for _, path := range []string{"/", "/alerts"} {
		d := e.page(t, path, http.StatusOK)
		banner := byTestID(d.Selection, "sync-error")
		line := text(byTestID(banner, "sync-problem"))
		if line != "Cannot list the bucket salon-backups: access denied." {
			t.Errorf("%s: banner line = %q", path, line)
		}
		details := byTestID(banner, "sync-details")
		if details.Length() != 1 || !strings.Contains(details.Find("pre").Text(), "4442587FB7D0A2F9") {
			t.Errorf("%s: the details are not behind a disclosure: %q", path, text(banner))
		}
		if strings.Contains(line, "RequestID") || strings.Contains(line, "HostID") {
			t.Errorf("%s: raw SDK error in the banner line: %q", path, line)
		}
	}
	d := e.page(t, "/alerts", http.StatusOK)
	found := false
	byTestID(d.Selection, "problem").Each(func(_ int, s *goquery.Selection) {
		found = found || s.AttrOr("data-check", "") == "sync"
	})
	if !found {
		t.Error("the alerts page does not list the sync check")
	}
}
