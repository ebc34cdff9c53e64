package dirlock

import (
	"errors"
	"strings"
	"testing"
)

func TestSecondAcquireSaysWhoHolds(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, ".backup.lock", "backup")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, ".backup.lock", "backup")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second acquire: %v, want LockedError", err)
	}
	if !strings.Contains(err.Error(), "backup") || le.Holder.PID == 0 {
		t.Fatalf("error does not say who holds it: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	l2, err := Acquire(dir, ".backup.lock", "backup")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	l2.Release()
}
