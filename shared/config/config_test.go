package config

import (
	"strings"
	"testing"
	"time"
)

func TestReaderErrors(t *testing.T) {
	full := map[string]string{
		"BACKUP_S3_ENDPOINT": "https://s3.us-west-004.backblazeb2.com", "BACKUP_S3_BUCKET": "b",
		"BACKUP_S3_ACCESS_KEY": "k", "BACKUP_S3_SECRET_KEY": "s3cr3t",
	}
	cases := []struct {
		name    string
		env     map[string]string
		read    func(r *Reader)
		wantErr []string // substrings; none means no error
	}{
		{"defaults", nil, func(r *Reader) {
			r.BranchID("BRANCH_ID", "default")
			r.Location("BRANCH_TIMEZONE", "Asia/Kolkata")
			r.Int("BACKUP_RETENTION_DAYS", 7, 0)
			if _, ok := r.S3(); ok {
				t.Error("S3 configured without settings")
			}
		}, nil},
		{"full s3", full, func(r *Reader) {
			o, ok := r.S3()
			if !ok || o.Region != "us-west-004" || o.SecretKey != "s3cr3t" {
				t.Errorf("S3() = %v, %v", o, ok)
			}
		}, nil},
		{"partial s3", map[string]string{"BACKUP_S3_ENDPOINT": "https://x", "BACKUP_S3_BUCKET": "b"},
			func(r *Reader) { r.S3() }, []string{"  BACKUP_S3_ACCESS_KEY:  is missing", "  BACKUP_S3_SECRET_KEY:  is missing", "local-only"}},
		{"endpoint without scheme", map[string]string{"BACKUP_S3_ENDPOINT": "s3.example.com", "BACKUP_S3_BUCKET": "b",
			"BACKUP_S3_ACCESS_KEY": "k", "BACKUP_S3_SECRET_KEY": "s"}, func(r *Reader) { r.S3() }, []string{"BACKUP_S3_ENDPOINT", "https://"}},
		{"bad branch", map[string]string{"BRANCH_ID": "Branch/One"}, func(r *Reader) { r.BranchID("BRANCH_ID", "default") },
			[]string{"BRANCH_ID", "a-z"}},
		{"bad zone", map[string]string{"BRANCH_TIMEZONE": "Mars/Olympus"}, func(r *Reader) { r.Location("BRANCH_TIMEZONE", "Asia/Kolkata") },
			[]string{"BRANCH_TIMEZONE", "Mars/Olympus"}},
		{"negative retention", map[string]string{"BACKUP_RETENTION_DAYS": "-1"}, func(r *Reader) { r.Int("BACKUP_RETENTION_DAYS", 7, 0) },
			[]string{"BACKUP_RETENTION_DAYS", "below the minimum"}},
		{"not a number", map[string]string{"BACKUP_RETENTION_DAYS": "seven"}, func(r *Reader) { r.Int("BACKUP_RETENTION_DAYS", 7, 0) },
			[]string{"BACKUP_RETENTION_DAYS", "not a whole number"}},
		{"bad bool", map[string]string{"X": "maybe"}, func(r *Reader) { r.Bool("X", false) }, []string{"X", "true or false"}},
		{"bad duration", map[string]string{"D": "5 minutes"}, func(r *Reader) { r.Duration("D", time.Minute) }, []string{"D", "duration"}},
		{"two errors", map[string]string{"BRANCH_ID": "-x", "BACKUP_RETENTION_DAYS": "-3"}, func(r *Reader) {
			r.BranchID("BRANCH_ID", "default")
			r.Int("BACKUP_RETENTION_DAYS", 7, 0)
		}, []string{"BRANCH_ID", "BACKUP_RETENTION_DAYS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(MapLookup(tc.env))
			tc.read(r)
			err := r.Err()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestOverrideWins(t *testing.T) {
	r := NewReader(MapLookup(map[string]string{"BACKUP_DIR": "/env"}))
	r.Override("BACKUP_DIR", "/flag")
	if got := r.String("BACKUP_DIR", "/backups"); got != "/flag" {
		t.Fatalf("got %q", got)
	}
}

func TestSecretNotInString(t *testing.T) {
	r := NewReader(MapLookup(map[string]string{
		"BACKUP_S3_ENDPOINT": "https://x", "BACKUP_S3_BUCKET": "b", "BACKUP_S3_ACCESS_KEY": "k", "BACKUP_S3_SECRET_KEY": "TOPSECRET",
	}))
	o, _ := r.S3()
	if s := o.String(); strings.Contains(s, "TOPSECRET") {
		t.Fatalf("String() leaks: %s", s)
	}
}

// TestErrAligned: one line per problem, each naming its variable first,
// the messages in one column; S3For says what the caller does without S3.
func TestErrAligned(t *testing.T) {
	r := NewReader(MapLookup(map[string]string{"BACKUP_S3_BUCKET": "b", "D": "soon"}))
	r.S3For("or none and AGGREGATOR_BUCKET_DIR for a local copy of the bucket")
	r.Duration("D", time.Minute)
	err := r.Err()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if lines[0] != "invalid configuration:" || len(lines) != 5 {
		t.Fatalf("want a heading and 4 lines, got:\n%s", err)
	}
	col := -1
	for _, l := range lines[1:] {
		name, _, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(l, "  "+name+":") {
			t.Errorf("line %q does not start with its variable", l)
		}
		i := len(l) - len(strings.TrimLeft(l[len("  "+name+":"):], " "))
		if col == -1 {
			col = i
		} else if i != col {
			t.Errorf("line %q: message starts at column %d, want %d", l, i, col)
		}
	}
	if strings.Contains(err.Error(), "local-only") || !strings.Contains(err.Error(), "AGGREGATOR_BUCKET_DIR") {
		t.Errorf("S3For wording not the caller's: %s", err)
	}
}
