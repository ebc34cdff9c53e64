package store

import (
	"strings"
	"testing"
)

// FuzzValidateKey: an accepted key is always a clean relative path that
// cannot climb out of a directory store's root.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a/metrics/2026-01-01.json", "../x", "/abs", "a//b", "a/./b", "a/%2e%2e/b", ".meta/x", "a\\..\\b", "a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		if strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
			t.Fatalf("accepted %q", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".") {
				t.Fatalf("accepted %q with segment %q", key, seg)
			}
		}
	})
}
