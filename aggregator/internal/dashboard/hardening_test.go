package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestSyncBannerInWords: a failed sync is one line in words on every
// page; the error's details (the server's code, never request ids) stay
// behind a disclosure. The alerts page lists the aggregator's own sync check.
func TestSyncBannerInWords(t *testing.T) {
	var deny atomic.Bool
	srv := testenv.StartS3(t, testenv.WithMiddleware(fixture.DenyAccess(&deny)))
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
		// The details hold the error as the store words it, with the
		// server's code; request ids stay in the store's debug log.
		if pre := details.Find("pre").Text(); details.Length() != 1 || !strings.Contains(pre, "(AccessDenied)") || strings.Contains(pre, fixture.DeniedRequestID) {
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

// TestFutureDatedOnPages: a dump dated 2031 is flagged on its branch's
// page and among the overview's problems, and the backup check still
// judges the real dumps.
func TestFutureDatedOnPages(t *testing.T) {
	srv := testenv.StartS3(t)
	st := srv.Store(t)
	seed(t, st)
	key := fixture.PutBackup(t, st, healthy, time.Date(2031, 1, 1, 22, 0, 0, 0, time.UTC), dumpBytes)
	e := newEnv(t, st, nil)

	d := e.page(t, "/branches/"+healthy, http.StatusOK)
	banner := byTestID(d.Selection, "future-dated")
	if banner.Length() != 1 || !strings.Contains(banner.Find("code").Text(), key) ||
		!strings.Contains(text(banner), "more than one day past the aggregator's clock") {
		t.Errorf("future-dated banner = %q", text(banner))
	}
	if got := text(byTestID(d.Selection, "backup-state")); !strings.HasPrefix(got, "Up") || !strings.Contains(got, "20260216_220005") || strings.Contains(got, "2031") {
		t.Errorf("backup state judged the 2031 dump: %q", got)
	}
	d = e.page(t, "/", http.StatusOK)
	if n := byTestID(d.Selection, "banner-problem").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.Contains(s.Text(), "future-dated")
	}).Length(); n != 1 {
		t.Errorf("overview lists %d future-dated problems, want 1: %q", n, text(byTestID(d.Selection, "alerts-banner")))
	}
	if d := e.page(t, "/branches/"+stale, http.StatusOK); byTestID(d.Selection, "future-dated").Length() != 0 {
		t.Error("a branch with nothing in the future is flagged")
	}
}
