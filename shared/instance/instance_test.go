package instance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPersistsOneInstallID(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(dir, "pos-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(a); err != nil || !strings.HasPrefix(a, "pos-1/") {
		t.Fatalf("id %q: %v", a, err)
	}
	b, err := Load(dir, "pos-1")
	if err != nil || b != a {
		t.Fatalf("second load %q (%v), want %q: the install id must be kept", b, err, a)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("install file: %v %v", fi, err)
	}
	other, err := Load(t.TempDir(), "pos-1")
	if err != nil || other == a {
		t.Fatalf("a second install dir gave %q (%v), want a new id", other, err)
	}
}

func TestLoadRefusesAGarbledFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("not an id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, "pos-1")
	if err == nil || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("err %v, want one naming %s", err, FileName)
	}
}

func TestValidateAndSafeHost(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"pos-1/0123456789abcdef", true},
		{"pos.example_2/0123456789abcdef", true},
		{"pos-1/0123456789ABCDEF", false},
		{"pos-1/0123", false},
		{"/0123456789abcdef", false},
		{"pos 1/0123456789abcdef", false},
		{"pos-1", false},
	} {
		if err := Validate(tc.id); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
	for in, want := range map[string]string{"": "unknown-host", "pos-1": "pos-1", "café\r\nx": "caf___x", "a b": "a_b"} {
		if got := SafeHost(in); got != want {
			t.Errorf("SafeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"pos-1/0123456789abcdef", "pos-1/0123456789abcdef", true},
		{"3f2a9c1d7e6b/0123456789abcdef", "9b8c7d6e5f4a/0123456789abcdef", true}, // a recreated container
		{"pos-1/0123456789abcdef", "pos-1/fedcba9876543210", false},
		{"garbage", "pos-1/0123456789abcdef", false},
	} {
		if got := Key(tc.a) == Key(tc.b); got != tc.same {
			t.Errorf("Key(%q) == Key(%q) is %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
