package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckWritable(t *testing.T) {
	root := t.TempDir()
	if err := CheckWritable(filepath.Join(root, "new", "dir")); err != nil {
		t.Fatalf("a new directory: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "new", "dir"))
	if len(entries) != 0 {
		t.Errorf("the check left %d files behind", len(entries))
	}
	// A file where the directory should be fails for root too.
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckWritable(file); err == nil {
		t.Error("a regular file passed as a data directory")
	}
	if os.Geteuid() == 0 {
		t.Skip("WARNING: running as root, which writes anywhere: the read-only case is not checked")
	}
	ro := filepath.Join(root, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := CheckWritable(ro); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("a read-only directory: %v, want not writable", err)
	}
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "alerts.json")
	if err := os.WriteFile(p, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	to, err := MoveAside(p, time.Date(2026, 3, 1, 4, 5, 6, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if to != p+".corrupt-20260301T040506Z" {
		t.Errorf("moved to %s", to)
	}
	if b, err := os.ReadFile(to); err != nil || string(b) != "{garbage" {
		t.Errorf("moved file: %q, %v", b, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("the damaged file is still in place: %v", err)
	}
}
