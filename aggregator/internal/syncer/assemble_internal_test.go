package syncer

import (
	"testing"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
)

// TestHoldsBranchKey: a prefix is a branch only with a metrics document
// name (good or bad content) or a dump; other objects do not make one.
func TestHoldsBranchKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    index.Branch
		want bool
	}{
		{"nothing", index.Branch{}, false},
		{"a bucket browser's folder marker", index.Branch{Ignored: 1}, false},
		{"junk under metrics/", index.Branch{Bad: []index.BadDoc{{Key: "x/metrics/notes.txt"}}}, false},
		{"a bad document of a date", index.Branch{Bad: []index.BadDoc{{Key: "x/metrics/2026-02-16.json", Date: "2026-02-16"}}}, true},
		{"a good document", index.Branch{Docs: index.NewDays("x", []index.Doc{{}})}, true},
		{"a dump", index.Branch{Backups: []index.Backup{{}}, Ignored: 3}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := holdsBranchKey(&tt.b); got != tt.want {
				t.Errorf("holdsBranchKey = %v, want %v", got, tt.want)
			}
		})
	}
}
