package pgtools

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestParseToolVersion(t *testing.T) {
	cases := []struct {
		name, out string
		want      Version
		major     string
	}{
		{"debian", "pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)\n", 150010, "15"},
		{"plain", "pg_restore (PostgreSQL) 16.2\n", 160002, "16"},
		{"beta", "pg_dump (PostgreSQL) 17beta1\n", 170000, "17"},
		{"old numbering", "pg_dump (PostgreSQL) 9.6.24\n", 90624, "9.6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseToolVersion(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || got.MajorString() != tc.major {
				t.Fatalf("got %d (major %s), want %d (major %s)", got, got.MajorString(), tc.want, tc.major)
			}
		})
	}
	if _, err := ParseToolVersion("bash: pg_dump: command not found"); err == nil {
		t.Fatal("garbage parsed as a version")
	}
	if Version(90624).Major() >= Version(100001).Major() {
		t.Fatal("9.6 must compare below 10")
	}
}

// fakeTool writes an executable that prints a --version line.
func fakeTool(t *testing.T, dir, name, version string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	script := "#!/bin/sh\necho '" + name + " (PostgreSQL) " + version + "'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFinderChoosesSuitableMajor(t *testing.T) {
	root := t.TempDir()
	onPath := filepath.Join(root, "usr/bin")
	fakeTool(t, onPath, "pg_dump", "14.11")
	for _, v := range []string{"14.11", "15.6", "16.2", "17.0"} {
		fakeTool(t, filepath.Join(root, "lib", strings.Split(v, ".")[0], "bin"), "pg_dump", v)
	}
	explicit := fakeTool(t, filepath.Join(root, "opt/pg13"), "pg_dump", "13.4")
	glob := []string{filepath.Join(root, "lib/*/bin")}

	cases := []struct {
		name     string
		finder   Finder
		server   Version
		wantPath string   // "" means an error is expected
		wantErr  []string // substrings of the error
	}{
		{"same major preferred", Finder{PATH: onPath, Globs: glob}, 150004, filepath.Join(root, "lib/15/bin/pg_dump"), nil},
		{"PATH copy when it suits", Finder{PATH: onPath, Globs: glob}, 140010, filepath.Join(onPath, "pg_dump"), nil},
		{"oldest newer major when none matches", Finder{PATH: onPath, Globs: []string{filepath.Join(root, "lib/1[47]/bin")}}, 150004, filepath.Join(root, "lib/17/bin/pg_dump"), nil},
		{"too old everywhere", Finder{PATH: onPath, Globs: glob}, 180001, "",
			[]string{"PostgreSQL 18.1", "pg_dump 17.0", "pg_dump 14.11", "postgresql-client-18"}},
		{"explicit too old", Finder{Explicit: explicit, ExplicitSetting: "PG_DUMP_PATH", PATH: onPath, Globs: glob}, 150004, "",
			[]string{"PostgreSQL 15.4", "pg_dump 13.4", "PG_DUMP_PATH", "postgresql-client-15"}},
		{"explicit directory", Finder{Explicit: filepath.Join(root, "lib/16/bin")}, 150004, filepath.Join(root, "lib/16/bin/pg_dump"), nil},
		{"nothing installed", Finder{PATH: filepath.Join(root, "empty")}, 150004, "", []string{"not found", "postgresql-client-15"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.finder.Find(context.Background(), "pg_dump", tc.server)
			if tc.wantPath == "" {
				if err == nil {
					t.Fatalf("found %s %s, want an error", got.Path, got.Version)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Path != tc.wantPath {
				t.Fatalf("chose %s (%s), want %s", got.Path, got.Version, tc.wantPath)
			}
		})
	}
}

func TestParseConnKeepsPasswordOffTheURL(t *testing.T) {
	cases := []struct {
		name, raw, password, safe string
	}{
		{"userinfo", "postgres://salon:s3cr%3At@db.local:5432/salon?sslmode=disable", "s3cr:t",
			"postgres://salon@db.local:5432/salon?sslmode=disable"},
		{"query parameter", "postgresql://salon@db.local/salon?password=hunter2&sslmode=require", "hunter2",
			"postgresql://salon@db.local/salon?sslmode=require"},
		{"no password", "postgres://salon@db.local/salon", "", "postgres://salon@db.local/salon"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConn(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tc.safe {
				t.Fatalf("safe URL %q, want %q", c.String(), tc.safe)
			}
			cmd, cleanup, err := c.Command(context.Background(), "/bin/true", "--list")
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			if tc.password != "" && strings.Contains(strings.Join(cmd.Args, " "), tc.password) {
				t.Fatalf("password on the command line: %q", cmd.Args)
			}
			var passfile string
			for _, kv := range cmd.Env {
				if strings.HasPrefix(kv, "PGPASSWORD=") {
					t.Fatalf("PGPASSWORD reaches the child: %s", kv)
				}
				if v, ok := strings.CutPrefix(kv, "PGPASSFILE="); ok {
					passfile = v
				}
			}
			if tc.password == "" {
				if passfile != "" {
					t.Fatalf("passfile %s written without a password", passfile)
				}
				return
			}
			fi, err := os.Stat(passfile)
			if err != nil {
				t.Fatalf("passfile: %v", err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("passfile mode %v, want 0600", fi.Mode().Perm())
			}
			cleanup()
			if _, err := os.Stat(passfile); !os.IsNotExist(err) {
				t.Fatalf("passfile left behind after cleanup: %v", err)
			}
		})
	}
	if _, err := ParseConn("host=db user=salon password=x"); err == nil || strings.Contains(err.Error(), "password=x") {
		t.Fatalf("keyword/value string: %v", err)
	}
}

// TestPasswordReachesPgDumpThroughPassfile dumps as a role that must give
// its password, with PGPASSWORD in the environment set to a wrong value that
// the passfile must win over.
func TestPasswordReachesPgDumpThroughPassfile(t *testing.T) {
	pg, _ := testenv.NewDatabase(t)
	db := pg.CreateDatabase(t)
	url := pg.CreatePasswordUser(t, db, "dumper_pw", "pa:ss!w0rd")
	ctx := context.Background()
	if err := pg.Exec(ctx, db, "CREATE TABLE bills (id int PRIMARY KEY, note text); INSERT INTO bills VALUES (1, 'a'), (2, 'b')"); err != nil {
		t.Fatal(err)
	}
	server, err := ServerVersion(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	finder := NewFinder("", "")
	dump, err := finder.Find(ctx, "pg_dump", server)
	if err != nil {
		t.Fatal(err)
	}
	restore, err := finder.Find(ctx, "pg_restore", dump.Version)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ParseConn(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSWORD", "wrong")
	file := filepath.Join(t.TempDir(), "x.dump")
	cmd, cleanup, err := conn.Command(ctx, dump.Path, "--format=custom", "--file="+file)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	toc, err := ListArchive(ctx, restore.Path, file)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(toc.Tables(), "public.bills") {
		t.Fatalf("tables %v lack public.bills", toc.Tables())
	}
	if toc.DumpVersion.Major() != dump.Version.Major() {
		t.Fatalf("archive says pg_dump %s, we ran %s", toc.DumpVersion, dump.Version)
	}
	if _, err := ListArchive(ctx, restore.Path, filepath.Join(t.TempDir(), "missing.dump")); err == nil {
		t.Fatal("listing a missing archive succeeded")
	}
}

func TestParseTOC(t *testing.T) {
	out := `;
; Archive created at 2026-02-17 22:00:05 IST
;     dbname: salon
;     Dumped from database version: 15.10 (Debian 15.10-0+deb12u1)
;     Dumped by pg_dump version: 15.10 (Debian 15.10-0+deb12u1)
;
215; 1259 16390 TABLE public bills salon
216; 1259 16389 SEQUENCE public bills_id_seq salon
3350; 0 16390 TABLE DATA public bills salon
217; 1259 16400 TABLE public line items salon
3351; 0 0 SEQUENCE SET public bills_id_seq salon
3200; 2606 16395 CONSTRAINT public bills bills_pkey salon
`
	toc, err := ParseTOC([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := toc.Tables(), []string{"public.bills", "public.line items"}; !slices.Equal(got, want) {
		t.Fatalf("tables %q, want %q", got, want)
	}
	if toc.DumpVersion != 150010 || toc.ServerVersion != 150010 {
		t.Fatalf("dump version %s from server %s, want 15.10 from 15.10", toc.DumpVersion, toc.ServerVersion)
	}
	if toc.Entries[2].Desc != "TABLE DATA" || toc.Entries[4].Desc != "SEQUENCE SET" {
		t.Fatalf("descriptions: %+v", toc.Entries)
	}
}

func TestFinderPrefersTheProgramToAWrapper(t *testing.T) {
	root := t.TempDir()
	real := fakeTool(t, filepath.Join(root, "lib/15/bin"), "pg_dump", "15.6")
	wrapper := fakeTool(t, filepath.Join(root, "share"), "pg_wrapper", "15.6")
	onPath := filepath.Join(root, "bin")
	if err := os.MkdirAll(onPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(wrapper, filepath.Join(onPath, "pg_dump")); err != nil {
		t.Fatal(err)
	}
	got, err := Finder{PATH: onPath, Globs: []string{filepath.Join(root, "lib/*/bin")}}.Find(context.Background(), "pg_dump", 150002)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != real {
		t.Fatalf("chose %s, want the program %s over the wrapper on PATH", got.Path, real)
	}
}
