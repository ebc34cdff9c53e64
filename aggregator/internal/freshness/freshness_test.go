package freshness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
)

var policy = freshness.Policy{
	Metrics: freshness.Schedule{At: 21*time.Hour + 45*time.Minute, Grace: 2 * time.Hour},
	Backup:  freshness.Schedule{At: 22 * time.Hour, Grace: 2 * time.Hour},
}

func ist(day, hh, mm int) time.Time { return time.Date(2026, 2, day, hh, mm, 0, 0, fixture.IST) }

func docs(last string, n int, finalLast bool) []index.Doc {
	var out []index.Doc
	for i := range n {
		d := fixture.Doc("andheri", fixture.Date(last, i-n+1), int64(i))
		out = append(out, index.Doc{Document: d})
	}
	if !finalLast && n > 0 {
		out[n-1].IsFinal = false
	}
	return out
}

func TestMetricsCheck(t *testing.T) {
	cases := []struct {
		name    string
		docs    []index.Doc
		now     time.Time
		want    freshness.State
		since   time.Time
		mention string
	}{
		{"nothing ever", nil, ist(17, 12, 0), freshness.Never, time.Time{}, "no final"},
		{"only an intra-day document", docs("2026-02-16", 1, false), ist(17, 12, 0), freshness.Never, time.Time{}, "intra-day"},
		{"yesterday's final, before today's deadline", docs("2026-02-16", 3, true), ist(17, 21, 44), freshness.Up, ist(16, 21, 45), "2026-02-17 21:45"},
		{"today's deadline passed, inside grace", docs("2026-02-16", 3, true), ist(17, 21, 46), freshness.Late, ist(17, 21, 45), "due"},
		{"past grace", docs("2026-02-16", 3, true), ist(17, 23, 45), freshness.Down, ist(17, 23, 45), "no final metrics for 2026-02-17, due 2026-02-17 21:45 +05:30 plus 2 hours of grace"},
		{"days behind", docs("2026-02-10", 3, true), ist(17, 9, 0), freshness.Down, ist(11, 23, 45), "2026-02-11"},
		{"today's final arrived", docs("2026-02-17", 3, true), ist(17, 21, 50), freshness.Up, ist(17, 21, 45), "2026-02-18"},
		{"today's intra-day does not count", docs("2026-02-17", 3, false), ist(17, 22, 0), freshness.Late, ist(17, 21, 45), "latest final is 2026-02-16"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &index.Branch{ID: "andheri", Docs: index.NewDays("andheri", c.docs)}
			got := policy.MetricsCheck(b, fixture.IST, c.now)
			if got.State != c.want || !got.Since.Equal(c.since) {
				t.Errorf("state %s since %v, want %s since %v (%s)", got.State, got.Since, c.want, c.since, got.Reason)
			}
			if !strings.Contains(got.Reason, c.mention) {
				t.Errorf("reason %q does not mention %q", got.Reason, c.mention)
			}
		})
	}
}

func backups(sizes []int64, lastDay int, hh, mm int) []index.Backup {
	var out []index.Backup
	for i, s := range sizes {
		day := lastDay - len(sizes) + 1 + i
		stamp := time.Date(2026, 2, day, hh, mm, 5, 0, time.UTC) // wall clock of the name
		out = append(out, index.Backup{Name: "b", Stamp: stamp, Size: s})
	}
	return out
}

func TestBackupCheck(t *testing.T) {
	steady := []int64{1000, 1010, 990, 1005, 1000, 995, 1002}
	cases := []struct {
		name    string
		backups []index.Backup
		now     time.Time
		want    freshness.State
		mention string
	}{
		{"nothing ever", nil, ist(17, 12, 0), freshness.Never, "no backup"},
		{"last night's dump", backups(steady, 16, 22, 0), ist(17, 12, 0), freshness.Up, "next due 2026-02-17 22:00"},
		{"a dump a minute early counts for that night", backups(steady, 16, 21, 59), ist(17, 12, 0), freshness.Up, "next due 2026-02-17"},
		{"a dump after midnight counts for the night before", backups(steady, 17, 1, 30), ist(17, 12, 0), freshness.Up, "next due 2026-02-17 22:00"},
		{"tonight's is overdue", backups(steady, 16, 22, 0), ist(17, 23, 0), freshness.Late, "grace until 2026-02-18 00:00"},
		{"past grace", backups(steady, 16, 22, 0), ist(18, 0, 1), freshness.Down, "no backup since 2026-02-16 22:00"},
		{"near-empty dump", backups(append(steady, 400), 17, 22, 0), ist(17, 23, 0), freshness.Down, "less than half the median 1000 B of the 7"},
		{"smaller but more than half", backups(append(steady, 600), 17, 22, 0), ist(17, 23, 0), freshness.Up, "600 B"},
		{"too little history to judge size", backups([]int64{1000, 1000, 10}, 17, 22, 0), ist(17, 23, 0), freshness.Up, "10 B"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &index.Branch{ID: "andheri", Backups: c.backups}
			got := policy.BackupCheck(b, fixture.IST, c.now)
			if got.State != c.want {
				t.Errorf("state %s, want %s (%s)", got.State, c.want, got.Reason)
			}
			if !strings.Contains(got.Reason, c.mention) {
				t.Errorf("reason %q does not mention %q", got.Reason, c.mention)
			}
		})
	}
}

// TestZoneFromDocuments: a branch's zone is the offset of its documents.
func TestZoneFromDocuments(t *testing.T) {
	d := fixture.Doc("dubai", "2026-02-16", 1)
	d.GeneratedAt = "2026-02-16T21:45:00+04:00"
	b := &index.Branch{ID: "dubai", Docs: index.NewDays("dubai", []index.Doc{{Document: d}})}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	loc := b.Zone(kolkata)
	if _, off := time.Date(2026, 2, 16, 0, 0, 0, 0, loc).Zone(); off != 4*3600 {
		t.Fatalf("zone %s has offset %d, want +04:00", loc, off)
	}
	// 21:44 in Dubai is before the deadline there, though after it in India.
	if got := policy.MetricsCheck(b, loc, time.Date(2026, 2, 17, 21, 44, 0, 0, loc)); got.State != freshness.Up {
		t.Errorf("at 21:44 Dubai time: %s (%s)", got.State, got.Reason)
	}
	if ind := (&index.Branch{ID: "x", Docs: index.NewDays("x", []index.Doc{{Document: fixture.Doc("x", "2026-02-16", 1)}})}).Zone(kolkata); ind != kolkata {
		t.Errorf("an +05:30 branch gets zone %s, want the default Asia/Kolkata", ind)
	}
}
