package static

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestFS(t *testing.T) {
	tests := []struct {
		name    string
		mustHas string
	}{
		{"app.css", "@media"},
		{"app.js", "addEventListener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := fs.ReadFile(FS, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.mustHas) {
				t.Errorf("%s lacks %q", tt.name, tt.mustHas)
			}
			// Nothing loads from elsewhere: the dashboard works offline.
			if regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`).Match(b) {
				t.Errorf("%s refers to an external URL", tt.name)
			}
		})
	}
}

func TestPath(t *testing.T) {
	if len(Version) != 8 {
		t.Fatalf("Version = %q", Version)
	}
	if got, want := Path("app.css"), "/static/app.css?v="+Version; got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}
