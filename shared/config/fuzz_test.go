package config

import (
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
)

// FuzzReader feeds arbitrary values to every typed reader: none may panic,
// every accepted value must satisfy its type's rule, and a refused value
// must produce an error naming the variable.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"", "7", "-1", "true", "maybe", "5m", "-5m", "Asia/Kolkata", "Local", "../../etc/passwd",
		"branch-andheri", "Branch", "a,b,,c", "https://s3.example.com", "99999999999999999999", "\x00", "1h2m3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		env := map[string]string{
			"I": v, "B": v, "D": v, "L": v, "ID": v, "LIST": v,
			"BACKUP_S3_ENDPOINT": v, "BACKUP_S3_BUCKET": v, "BACKUP_S3_ACCESS_KEY": "k", "BACKUP_S3_SECRET_KEY": "s",
		}
		r := NewReader(MapLookup(env))
		n := r.Int("I", 7, 0)
		r.Bool("B", false)
		d := r.Duration("D", time.Minute)
		loc := r.Location("L", "Asia/Kolkata")
		id := r.BranchID("ID", "default")
		for _, item := range r.List("LIST") {
			if item == "" || item != strings.TrimSpace(item) {
				t.Fatalf("List gave %q", item)
			}
		}
		r.S3()
		if n < 0 {
			t.Fatalf("Int accepted %d below its minimum", n)
		}
		if d < 0 {
			t.Fatalf("Duration accepted %v", d)
		}
		if loc == nil {
			t.Fatal("Location returned nil")
		}
		err := r.Err()
		if err == nil && layout.ValidateBranchID(id) != nil {
			t.Fatalf("BranchID accepted %q without error", id)
		}
		if err != nil && !strings.Contains(err.Error(), ":") {
			t.Fatalf("error without a variable name: %v", err)
		}
	})
}
