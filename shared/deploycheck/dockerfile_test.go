package deploycheck

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, COPY, ARG...
	args string
	line int
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") { // a comment inside a continued instruction
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	cases := []struct {
		name     string
		file     string
		main     string           // the main package built, relative to the root
		version  string           // the file declaring the Version variable set by -X
		contains []*regexp.Regexp // must match the joined instructions
	}{
		{"agent", "deploy/docker/agent.Dockerfile", "agent/cmd/agent", "agent/internal/cli/cli.go", []*regexp.Regexp{
			// pg_dump of the branch server's major version, first on PATH.
			regexp.MustCompile(`(?m)^ARG PG_MAJOR=\d+$`),
			regexp.MustCompile(`postgresql-client-\$\{PG_MAJOR\}`),
			regexp.MustCompile(`PATH="/usr/lib/postgresql/\$\{PG_MAJOR\}/bin:`),
			regexp.MustCompile(`(?m)^VOLUME \["/backups"\]$`),
			regexp.MustCompile(`(?m)^USER branchwatch`),
			regexp.MustCompile(`go build .*\./cmd/agent`),
		}},
		{"aggregator", "deploy/docker/aggregator.Dockerfile", "aggregator/cmd/aggregator", "aggregator/internal/app/cli.go", []*regexp.Regexp{
			regexp.MustCompile(`(?m)^VOLUME \["/data"\]$`),
			regexp.MustCompile(`(?m)^USER nonroot`),
			regexp.MustCompile(`go build .*\./cmd/aggregator`),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins := parseDockerfile(t, filepath.Join(root, tc.file))
			var joined strings.Builder
			froms := 0
			for _, in := range ins {
				joined.WriteString(in.cmd + " " + in.args + "\n")
				switch in.cmd {
				case "FROM":
					froms++
				case "COPY", "ADD":
					if strings.Contains(in.args, "--from=") {
						continue
					}
					// Every source must exist in the build context (the repo root).
					fields := strings.Fields(in.args)
					var srcs []string
					for _, f := range fields[:len(fields)-1] {
						if !strings.HasPrefix(f, "--") {
							srcs = append(srcs, f)
						}
					}
					for _, src := range srcs {
						if _, err := os.Stat(filepath.Join(root, src)); err != nil {
							t.Errorf("line %d: %s %s: source %s is not in the repository", in.line, in.cmd, in.args, src)
						}
					}
				}
			}
			if !isDir(filepath.Join(root, tc.main)) {
				t.Errorf("the image builds %s, which does not exist", tc.main)
			}
			// -X of a variable that does not exist is silently ignored: check it does.
			pkg := "github.com/branchwatch/branchwatch/" + filepath.Dir(tc.version) + ".Version="
			if !strings.Contains(joined.String(), "-X "+pkg) {
				t.Errorf("the build does not set %s", pkg)
			}
			if src, err := os.ReadFile(filepath.Join(root, tc.version)); err != nil || !regexp.MustCompile(`(?m)^var Version = `).Match(src) {
				t.Errorf("%s declares no `var Version =` for -X to set (%v)", tc.version, err)
			}
			if froms < 2 {
				t.Errorf("%d FROM lines: want a multi-stage build (build stage, small runtime stage)", froms)
			}
			for _, re := range tc.contains {
				if !re.MatchString(joined.String()) {
					t.Errorf("%s has nothing matching %s", tc.file, re)
				}
			}
		})
	}
}
