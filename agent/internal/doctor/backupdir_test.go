package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/options"
)

func TestBackupDir(t *testing.T) {
	withDump := t.TempDir()
	// A 10 KiB dump of the branch: twice it is 20 KiB.
	if err := os.WriteFile(filepath.Join(withDump, "b1_20260216_220000.dump"), make([]byte, 10<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		dir    string
		free   uint64
		status Status
		detail string
	}{
		{"room for two dumps", withDump, 20 << 10, Pass, "twice the last dump b1_20260216_220000.dump needs 20.0 KiB"},
		{"room for one dump only", withDump, 15 << 10, Fail, "has 15.0 KiB free, less than twice the last dump b1_20260216_220000.dump (10.0 KiB)"},
		{"no dump yet: twice the floor", t.TempDir(), 2048, Pass, "twice no dump yet needs 2.0 KiB"},
		{"missing", filepath.Join(t.TempDir(), "nope"), 1 << 30, Fail, "no such file or directory"},
		{"a file", file, 1 << 30, Fail, "is not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &checker{cfg: Config{
				Options:   options.Options{BackupDir: tc.dir, BranchID: "b1", Location: time.UTC, MinDumpBytes: 1024},
				FreeSpace: func(string) (uint64, error) { return tc.free, nil },
			}}
			r := c.backupDir()
			if r.Status != tc.status || r.Setting != "BACKUP_DIR" || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%s %s %q, want %s with %q", r.Status, r.Setting, r.Detail, tc.status, tc.detail)
			}
			if left, _ := filepath.Glob(filepath.Join(tc.dir, ".doctor-*")); len(left) > 0 {
				t.Errorf("left behind %v", left)
			}
		})
	}
}
