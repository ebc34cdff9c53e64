package cli

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// skewDate is S3 server middleware that sends a Date header off by skew
// (the real server's answer otherwise).
func skewDate(skew time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
			next.ServeHTTP(w, r)
		})
	}
}

// denyAll answers every request 403 AccessDenied (a key refused everywhere).
func denyAll(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>r1</RequestId></Error>`))
	})
}

// TestDoctor: one case per failing check, each against a real database
// and a real S3-protocol server; the other checks of the case pass.
func TestDoctor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, dbURL := testenv.NewDatabase(t)
	db := strings.TrimSuffix(dbURL[strings.LastIndex(dbURL, "/")+1:], "?sslmode=disable")
	base := map[string]string{"DATABASE_URL": dbURL, "BRANCH_ID": "branch-andheri", "BACKUP_DIR": t.TempDir()}
	if r := agent(t, ctx, base, "demo-data", "--days", "3", "--seed", "1"); r.code != 0 {
		t.Fatalf("demo-data: %s", r.stderr)
	}
	srv := testenv.StartS3(t)
	s3env := with(base)
	maps.Copy(s3env, srv.Env())

	role := uniqueRole("doctor_bw")
	wrongPW := strings.Replace(pg.CreatePasswordUser(t, db, role, "right-pw2"), "right-pw2", "wrong-pw", 1)
	port, _ := testenv.FreePort()
	downURL := "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/x?sslmode=disable"
	_, emptyURL := testenv.NewDatabase(t) // no reference schema: the default query cannot run
	oldPGDump := filepath.Join(t.TempDir(), "pg_dump")
	if err := os.WriteFile(oldPGDump, []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	badQuery := filepath.Join(t.TempDir(), "metrics.sql")
	if err := os.WriteFile(badQuery, []byte("SELECT 1 AS total_bills"), 0o600); err != nil {
		t.Fatal(err)
	}
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	skewed := testenv.StartS3(t, testenv.WithMiddleware(skewDate(7*time.Minute)))
	slightlySkewed := testenv.StartS3(t, testenv.WithMiddleware(skewDate(-3*time.Minute)))
	refused := testenv.StartS3(t, testenv.WithMiddleware(denyAll))
	on := func(s *testenv.S3Server, kv ...string) map[string]string {
		env := with(base, kv...)
		maps.Copy(env, s.Env())
		return env
	}

	cases := []struct {
		name string
		env  map[string]string
		// fail maps each setting expected to FAIL to a fragment of its line;
		// skip lists the settings expected to be SKIPped. Every other line passes.
		fail map[string]string
		skip []string
	}{
		{"all pass", s3env, nil, nil},
		{"local-only", base, nil, []string{"BACKUP_S3_BUCKET", "system clock", "VERIFY_SCHEDULE"}},
		{"wrong password", with(s3env, "DATABASE_URL", wrongPW),
			map[string]string{"DATABASE_URL": `password authentication failed for user "` + role + `"`}, []string{"PG_DUMP_PATH", "METRICS_QUERY_FILE"}},
		{"database down", with(s3env, "DATABASE_URL", downURL),
			map[string]string{"DATABASE_URL": "connection refused"}, []string{"PG_DUMP_PATH", "METRICS_QUERY_FILE"}},
		{"pg_dump too old", with(s3env, "PG_DUMP_PATH", oldPGDump),
			map[string]string{"PG_DUMP_PATH": "must be at least the server's major version"}, nil},
		{"metrics query file broken", with(s3env, "METRICS_QUERY_FILE", badQuery),
			map[string]string{"METRICS_QUERY_FILE": "metrics query file " + badQuery}, nil},
		{"reference tables missing", with(s3env, "DATABASE_URL", emptyURL),
			map[string]string{"METRICS_QUERY_FILE": "default metrics query"}, nil},
		{"backup dir not a directory", with(s3env, "BACKUP_DIR", notADir),
			map[string]string{"BACKUP_DIR": "is not a directory"}, nil},
		{"missing bucket", with(s3env, "BACKUP_S3_BUCKET", "no-such-bucket"),
			map[string]string{"BACKUP_S3_BUCKET": "bucket no-such-bucket does not exist (NoSuchBucket)"}, nil},
		{"key refused", on(refused),
			map[string]string{"BACKUP_S3_ACCESS_KEY": "may not write branch-andheri/agent/status.json in bucket salon-backups (AccessDenied)"}, nil},
		{"clock 7 minutes behind", on(skewed),
			map[string]string{"system clock": "behind the S3 server's"}, nil},
		{"clock 3 minutes ahead passes", on(slightlySkewed), nil, nil},
	}
	line := regexp.MustCompile(`^(PASS|FAIL|SKIP)  (.{22})  (.+)$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := agent(t, ctx, tc.env, "doctor")
			wantCode := 0
			if len(tc.fail) > 0 {
				wantCode = 1
			}
			if r.code != wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, wantCode, r.stdout, r.stderr)
			}
			seen := map[string]bool{}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if wantCode == 0 && !strings.HasPrefix(lines[len(lines)-1], "all checks passed") {
				t.Errorf("no closing line: %s", r.stdout)
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "all checks passed") {
					continue
				}
				m := line.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("line %q is not STATUS SETTING DETAIL", l)
					continue
				}
				status, setting, detail := m[1], strings.TrimSpace(m[2]), m[3]
				seen[setting] = true
				want := "PASS"
				if _, bad := tc.fail[setting]; bad {
					want = "FAIL"
					if !strings.Contains(detail, tc.fail[setting]) {
						t.Errorf("%s: %q lacks %q", setting, detail, tc.fail[setting])
					}
				} else if contains(tc.skip, setting) {
					want = "SKIP"
				}
				if status != want {
					t.Errorf("%s: %s %s, want %s", setting, status, detail, want)
				}
			}
			for s := range tc.fail {
				if !seen[s] {
					t.Errorf("no line for %s:\n%s", s, r.stdout)
				}
			}
			for _, s := range []string{"DATABASE_URL", "PG_DUMP_PATH", "METRICS_QUERY_FILE", "BACKUP_DIR", "BRANCH_TIMEZONE",
				"SUMMARY_SCHEDULE", "BACKUP_SCHEDULE", "CLOUD_CLEANUP_SCHEDULE", "VERIFY_SCHEDULE"} {
				if !seen[s] {
					t.Errorf("no line for %s:\n%s", s, r.stdout)
				}
			}
			if wantCode == 1 && !strings.Contains(r.stderr, "checks failed") {
				t.Errorf("stderr lacks the one-line reason: %s", r.stderr)
			}
		})
	}

	// The bucket check overwrites one object: run twice, one object, the
	// newer status.
	st := srv.Store(t)
	for range 2 {
		if r := agent(t, ctx, s3env, "doctor"); r.code != 0 {
			t.Fatalf("doctor: %s %s", r.stdout, r.stderr)
		}
	}
	if keys := bucketKeys(t, st, "branch-andheri/"); len(keys) != 1 || keys[0] != "branch-andheri/agent/status.json" {
		t.Fatalf("the bucket holds %v, want only the status object", keys)
	}
	rc, _, err := st.Get(ctx, "branch-andheri/agent/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	s, err := agentstatus.Decode(rc)
	if err != nil || s.BranchID != "branch-andheri" || s.Checks != agentstatus.ChecksOK {
		t.Errorf("status object %+v (%v)", s, err)
	}
	// The instance id: this host and the install id kept in BACKUP_DIR.
	install, err := os.ReadFile(filepath.Join(s3env["BACKUP_DIR"], instance.FileName))
	if want := instance.SafeHost(instance.Hostname()) + "/" + strings.TrimSpace(string(install)); err != nil || s.Instance != want {
		t.Errorf("status instance %q, want %q (%v)", s.Instance, want, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
