package index

import (
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// TestPresent: objects dated more than FutureSlack past the clock, in the
// branch's zone, are split off; the rest is the branch as judged.
func TestPresent(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	now := time.Date(2026, 2, 17, 12, 0, 0, 0, ist) // limit: 2026-02-18 12:00 IST
	doc := func(date string) Doc { return Doc{Document: metrics.Document{SummaryDate: date}} }
	dump := func(y int, m time.Month, d, h int) Backup {
		return Backup{Key: time.Date(y, m, d, h, 0, 0, 0, time.UTC).Format("20060102_150405"), Stamp: time.Date(y, m, d, h, 0, 0, 0, time.UTC)}
	}
	tests := []struct {
		name                  string
		b                     Branch
		docs, bad, backups    int // kept
		fDocs, fBad, fBackups int // split off
	}{
		{"nothing ahead", Branch{Docs: NewDays("x", []Doc{doc("2026-02-16"), doc("2026-02-17")}), Backups: []Backup{dump(2026, 2, 16, 22)}}, 2, 0, 1, 0, 0, 0},
		{"tomorrow is not ahead", Branch{Docs: NewDays("x", []Doc{doc("2026-02-18")}), Backups: []Backup{dump(2026, 2, 18, 11)}}, 1, 0, 1, 0, 0, 0},
		{"the day after is", Branch{Docs: NewDays("x", []Doc{doc("2026-02-17"), doc("2026-02-19")}), Backups: []Backup{dump(2026, 2, 17, 22), dump(2026, 2, 18, 13)}}, 1, 0, 1, 1, 0, 1},
		{"2031", Branch{Docs: NewDays("x", []Doc{doc("2026-02-16"), doc("2031-01-01")}),
			Bad:     []BadDoc{{Key: "a", Date: "2026-02-10"}, {Key: "b", Date: "2031-01-02"}, {Key: "c"}},
			Backups: []Backup{dump(2026, 2, 16, 22), dump(2031, 1, 1, 22)}}, 1, 2, 1, 1, 1, 1},
		{"everything ahead", Branch{Docs: NewDays("x", []Doc{doc("2031-01-01")}), Backups: []Backup{dump(2031, 1, 1, 22)}}, 0, 0, 0, 1, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, f := tt.b.Present(now, ist)
			if p.Docs.Len() != tt.docs || len(p.Bad) != tt.bad || len(p.Backups) != tt.backups {
				t.Errorf("kept %d docs %d bad %d backups, want %d %d %d", p.Docs.Len(), len(p.Bad), len(p.Backups), tt.docs, tt.bad, tt.backups)
			}
			if len(f.Docs) != tt.fDocs || len(f.Bad) != tt.fBad || len(f.Backups) != tt.fBackups {
				t.Errorf("split off %d docs %d bad %d backups, want %d %d %d", len(f.Docs), len(f.Bad), len(f.Backups), tt.fDocs, tt.fBad, tt.fBackups)
			}
			if f.Len() == 0 && p != &tt.b {
				t.Error("a branch with nothing ahead was copied")
			}
			if f.Len() > 0 && tt.b.Docs.Len()+len(tt.b.Bad)+len(tt.b.Backups) != p.Docs.Len()+len(p.Bad)+len(p.Backups)+f.Len() {
				t.Error("objects lost in the split")
			}
		})
	}
}
