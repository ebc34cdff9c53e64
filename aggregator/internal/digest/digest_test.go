package digest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/digest"
	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
	"github.com/branchwatch/branchwatch/web/format"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// The crafted bucket: Andheri and Bandra report every day up to Monday 16
// Feb 2026; Andheri's 16th is a fifth of its usual Monday. Colaba stopped
// on the 10th (its metrics check is down) and has no backup.
const day = "2026-02-16"

var now = time.Date(2026, 2, 17, 9, 30, 0, 0, fixture.IST)

func craft(t *testing.T, st store.Store) (andheri, bandra, andheriLastMonday metrics.Document) {
	t.Helper()
	for _, br := range []struct {
		id, last string
	}{{"branch-andheri", day}, {"branch-bandra", day}, {"branch-colaba", "2026-02-10"}} {
		for i := range 70 {
			date := fixture.Date(br.last, i-69)
			d := fixture.Doc(br.id, date, int64(i))
			if br.id == "branch-andheri" && date == day {
				d.GrossRevenue = d.GrossRevenue / 5
				d.Derive()
				andheri = d
			}
			if br.id == "branch-andheri" && date == "2026-02-09" {
				andheriLastMonday = d
			}
			if br.id == "branch-bandra" && date == day {
				bandra = d
			}
			fixture.PutDoc(t, st, d)
		}
		if br.id != "branch-colaba" {
			fixture.PutBackup(t, st, br.id, time.Date(2026, 2, 16, 22, 0, 5, 0, time.UTC), 6000)
		}
	}
	return andheri, bandra, andheriLastMonday
}

// wantDigest is the crafted bucket's digest of 16 Feb: its subject and
// lines (some cut short where they go on with figures).
func wantDigest(andheri, bandra, lastMonday metrics.Document) (subject string, lines []string) {
	total := andheri.NetRevenue + bandra.NetRevenue
	change := float64(andheri.NetRevenue-lastMonday.NetRevenue) / float64(lastMonday.NetRevenue)
	return "Branchwatch Mon 16 Feb: " + format.Money(total) + ", 2 of 3 reported, 2 problems", []string{
		"Branchwatch, Mon 16 Feb 2026: " + format.Money(total) + " net revenue, 2 of 3 branches reported",
		"• Salon Branch-andheri: " + format.Money(andheri.NetRevenue) + " (" + format.Change(change) + " on last Monday)",
		"Missing for Mon 16 Feb: Salon Branch-colaba",
		"Unusual:",
		"• Salon Branch-andheri: " + format.Money(andheri.NetRevenue) + " net revenue is below half the usual Monday (median of the last 8 Mondays: ",
		"2 open problems:",
		"• Salon Branch-colaba metrics DOWN: ",
		"• Salon Branch-colaba backup NEVER: ",
	}
}

func build(t *testing.T, st store.Store, dir string, clock func() time.Time) *app.App {
	t.Helper()
	o, err := options.Load(config.NewReader(config.MapLookup(map[string]string{
		options.EnvListen: "127.0.0.1:0", options.EnvDataDir: dir, options.EnvBucketDir: "unused",
		options.EnvInsecureNoAuth: "true",
	})), options.Need{Bucket: true, Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Build(o, app.Config{Store: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDigestText(t *testing.T) {
	st := testenv.StartS3(t).Store(t)
	andheri, bandra, lastMonday := craft(t, st)
	a := build(t, st, t.TempDir(), func() time.Time { return now })
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := digest.Build(a.Service, time.Time{})
	subject, lines := wantDigest(andheri, bandra, lastMonday)
	for _, w := range lines {
		if !strings.Contains(m.Text, w) {
			t.Errorf("the digest lacks %q:\n%s", w, m.Text)
		}
	}
	if m.Subject != subject {
		t.Errorf("subject %q, want %q", m.Subject, subject)
	}
	if strings.Contains(m.Text, "Salon Branch-colaba: ₹") {
		t.Errorf("the stale branch's older figures are in the digest:\n%s", m.Text)
	}
	// --date picks another day: on 9 Feb all three had reported.
	m9 := digest.Build(a.Service, time.Date(2026, 2, 9, 0, 0, 0, 0, time.UTC))
	if !strings.HasPrefix(m9.Text, "Branchwatch, Mon 9 Feb 2026: ") || !strings.Contains(m9.Text, "3 of 3 branches reported") || strings.Contains(m9.Text, "Missing") {
		t.Errorf("digest of 9 Feb:\n%s", m9.Text)
	}
}

// The digest goes out at DIGEST_TIME, once per day, across restarts.
func TestDigestOncePerDay(t *testing.T) {
	st := testenv.StartS3(t).Store(t)
	craft(t, st)
	dir := t.TempDir()
	clock := now
	a := build(t, st, dir, func() time.Time { return clock })
	sched := a.Digest()
	at := func(d, h, m int) time.Time { return time.Date(2026, 2, d, h, m, 0, 0, fixture.IST) }
	if sched.Tick(at(17, 9, 30)) {
		t.Fatal("queued before the bucket was read")
	}
	if err := a.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		when time.Time
		want bool
	}{
		{at(17, 8, 59), false},
		{at(17, 9, 0), true},
		{at(17, 9, 1), false},
		{at(17, 23, 59), false},
	}
	for _, s := range steps {
		if got := sched.Tick(s.when); got != s.want {
			t.Errorf("Tick(%s) = %v, want %v", s.when, got, s.want)
		}
	}
	digests := func(a *app.App) []alert.Record {
		var out []alert.Record
		for _, r := range a.Notifier.History() {
			if r.Kind == alert.KindDigest {
				out = append(out, r)
			}
		}
		return out
	}
	if d := digests(a); len(d) != 1 || !strings.HasPrefix(d[0].Text, "Branchwatch, Mon 16 Feb 2026: ") || d[0].Message().Subject == "" {
		t.Fatalf("digest records %+v", d)
	}
	// A restart the same day (same data directory) does not send it again;
	// the next morning does.
	b := build(t, st, dir, func() time.Time { return clock })
	if err := b.Service.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2 := b.Digest()
	if s2.Tick(at(17, 10, 0)) {
		t.Error("sent again after a restart on the same day")
	}
	if !s2.Tick(at(18, 9, 0)) {
		t.Error("not sent the next morning")
	}
	if n := len(digests(b)); n != 2 {
		t.Errorf("%d digests after two mornings, want 2", n)
	}
	// A multi-line digest keeps its lines when sent.
	if d := digests(b); len(d) > 0 && !strings.Contains(d[len(d)-1].Message().Text, "\n") {
		t.Error("the sent digest lost its line breaks")
	}
}
