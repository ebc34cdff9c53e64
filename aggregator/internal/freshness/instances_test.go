package freshness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
)

func TestInstanceCheck(t *testing.T) {
	const a, b = "pos-1/0123456789abcdef", "pos-2/fedcba9876543210"
	now := time.Date(2026, 2, 17, 12, 0, 0, 0, fixture.IST)
	doc := func(date, id string) index.Doc {
		return index.Doc{Document: fixture.Doc("andheri", date, 1), Instance: id}
	}
	dump := func(day int, id string) []index.Backup {
		return []index.Backup{{Name: "x", Stamp: time.Date(2026, 2, day, 22, 0, 0, 0, time.UTC), MetaRead: true, Instance: id}}
	}
	for _, tc := range []struct {
		name      string
		docs      []index.Doc
		backups   []index.Backup
		state     freshness.State
		since     string // generated_at or dump start of the second instance
		wantInWhy []string
	}{
		{"no ids", []index.Doc{doc("2026-02-15", ""), doc("2026-02-16", "")}, nil, freshness.Up, "", []string{"no agent instance id"}},
		{"one id", []index.Doc{doc("2026-02-15", a), doc("2026-02-16", a)}, dump(16, a), freshness.Up, "", []string{a}},
		{"two ids in documents", []index.Doc{doc("2026-02-14", a), doc("2026-02-15", b), doc("2026-02-16", a)}, nil,
			freshness.Down, "2026-02-15T21:45:00+05:30", []string{a, b, "BRANCH_ID"}},
		{"the newest dump by another", []index.Doc{doc("2026-02-16", a)}, dump(16, b), freshness.Down, "2026-02-16T22:00:00+05:30", []string{a, b}},
		{"one install id on a recreated container (new host name)", []index.Doc{doc("2026-02-15", "3f2a9c1d7e6b/0123456789abcdef"),
			doc("2026-02-16", "9b8c7d6e5f4a/0123456789abcdef")}, nil, freshness.Up, "", []string{"9b8c7d6e5f4a/0123456789abcdef"}},
		{"another id beyond the window", []index.Doc{doc("2026-02-01", b), doc("2026-02-16", a)}, dump(2, b), freshness.Up, "", []string{a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := &index.Branch{ID: "andheri", Docs: index.NewDays("andheri", tc.docs), Backups: tc.backups}
			c := freshness.InstanceCheck(br, fixture.IST, now)
			if c.Name != freshness.CheckInstances || c.State != tc.state {
				t.Errorf("check %+v, want %s", c, tc.state)
			}
			if tc.since != "" && c.Since.Format(time.RFC3339) != tc.since {
				t.Errorf("since %s, want %s", c.Since.Format(time.RFC3339), tc.since)
			}
			for _, w := range tc.wantInWhy {
				if !strings.Contains(c.Reason, w) {
					t.Errorf("reason %q lacks %q", c.Reason, w)
				}
			}
		})
	}
}
