package ledger_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/ledger"
)

func TestRecordLookupForget(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Load(dir)
	if err != nil || len(l.Uploads) != 0 {
		t.Fatalf("empty dir: %+v %v", l, err)
	}
	at := time.Date(2026, 12, 1, 16, 30, 0, 0, time.UTC)
	// Concurrent writers lose nothing.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ledger.Entry{Key: "b/backups/k" + string(rune('a'+i)), SHA256: "ab", Size: int64(i), Uploaded: at.Add(time.Duration(i) * time.Hour)}
			if err := ledger.Record(dir, e); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := ledger.Record(dir, ledger.Entry{Key: "b/backups/ka", SHA256: "cd", Size: 99, Uploaded: at}); err != nil {
		t.Fatal(err)
	}
	if err := ledger.Forget(dir, []string{"b/backups/kb"}); err != nil {
		t.Fatal(err)
	}
	l, err = ledger.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Uploads) != 19 {
		t.Fatalf("%d entries, want 19", len(l.Uploads))
	}
	if e, ok := l.Lookup("b/backups/ka"); !ok || e.SHA256 != "cd" || e.Size != 99 {
		t.Errorf("replaced entry: %+v %v", e, ok)
	}
	if _, ok := l.Lookup("b/backups/kb"); ok {
		t.Error("forgotten entry still there")
	}
}

func TestCorruptRecordIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ledger.FileName)
	if err := os.WriteFile(p, []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Load(dir); err == nil {
		t.Fatal("a corrupt record loads")
	}
	if err := ledger.Record(dir, ledger.Entry{Key: "k", Size: 1}); err != nil {
		t.Fatal(err)
	}
	if l, err := ledger.Load(dir); err != nil || len(l.Uploads) != 1 {
		t.Fatalf("after recording: %+v %v", l, err)
	}
	if _, err := os.Stat(p + ".corrupt"); err != nil {
		t.Errorf("the corrupt record was not kept aside: %v", err)
	}
}
