package deploycheck

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// EnvVar is one variable of an .env example: set (NAME=value) or shown
// commented out with its default (#NAME=value).
type EnvVar struct {
	Name   string
	Value  string // unquoted
	Active bool   // false for a commented-out #NAME=value
	Line   int
	// Doc is the prose comment block directly above the variable (or above
	// the group of variables it belongs to), without the leading "# ".
	Doc string
	// Default is what the block's "Default: ..." line says, "" if none.
	Default string
}

// EnvExample is a parsed .env example file.
type EnvExample struct {
	Vars []EnvVar
}

// Lookup returns the variable named name.
func (e EnvExample) Lookup(name string) (EnvVar, bool) {
	for _, v := range e.Vars {
		if v.Name == name {
			return v, true
		}
	}
	return EnvVar{}, false
}

// Active returns the values of the variables that are set (not commented out).
func (e EnvExample) Active() map[string]string {
	m := map[string]string{}
	for _, v := range e.Vars {
		if v.Active {
			m[v.Name] = v.Value
		}
	}
	return m
}

var (
	assignRE = regexp.MustCompile(`^(#?)([A-Z_][A-Z0-9_]*)=(.*)$`)
	// Characters that systemd, docker compose and a POSIX shell would not all
	// read the same way in an unquoted value.
	unsafeUnquoted = " \t$\"'`\\;&|<>()#"
	defaultRE      = regexp.MustCompile(`^Default:\s*(.*?)\s*$`)
)

// ParseEnvExample reads an .env example in the subset of the format that
// systemd's EnvironmentFile, docker compose's env_file and `set -a; . FILE`
// all read the same way: blank lines, "#" comments, NAME=value with either a
// plain value or one in single quotes. It reports any other line, a duplicate
// variable, and a variable with no comment above it.
func ParseEnvExample(path string) (EnvExample, error) {
	f, err := os.Open(path)
	if err != nil {
		return EnvExample{}, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return EnvExample{}, fmt.Errorf("read %s: %w", path, err)
	}
	var ex EnvExample
	var problems []string
	seen := map[string]int{}
	for i, line := range lines {
		n := i + 1
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := assignRE.FindStringSubmatch(line)
		if m == nil {
			if !strings.HasPrefix(line, "#") {
				problems = append(problems, fmt.Sprintf("line %d: neither a comment nor NAME=value: %q", n, line))
			}
			continue
		}
		v := EnvVar{Name: m[2], Active: m[1] == "", Line: n}
		val, err := unquote(m[3])
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s: %v", n, v.Name, err))
		}
		v.Value = val
		if prev, dup := seen[v.Name]; dup {
			problems = append(problems, fmt.Sprintf("line %d: %s already appears on line %d", n, v.Name, prev))
		}
		seen[v.Name] = n
		v.Doc = docAbove(lines, i)
		if v.Doc == "" {
			problems = append(problems, fmt.Sprintf("line %d: %s has no comment saying what it is", n, v.Name))
		}
		for _, d := range strings.Split(v.Doc, "\n") {
			if dm := defaultRE.FindStringSubmatch(d); dm != nil {
				v.Default = dm[1]
			}
		}
		ex.Vars = append(ex.Vars, v)
	}
	if len(problems) > 0 {
		return ex, fmt.Errorf("%s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return ex, nil
}

func unquote(raw string) (string, error) {
	if strings.HasPrefix(raw, "'") {
		if len(raw) < 2 || !strings.HasSuffix(raw, "'") || strings.Contains(raw[1:len(raw)-1], "'") {
			return raw, fmt.Errorf("unbalanced single quotes in %s", raw)
		}
		return raw[1 : len(raw)-1], nil
	}
	if i := strings.IndexAny(raw, unsafeUnquoted); i >= 0 {
		return raw, fmt.Errorf("%q must be in single quotes (it holds %q)", raw, raw[i])
	}
	return raw, nil
}

// docAbove collects the prose comment lines directly above line i, skipping
// the assignments of the group the variable belongs to.
func docAbove(lines []string, i int) string {
	j := i - 1
	for j >= 0 && assignRE.MatchString(lines[j]) {
		j--
	}
	var doc []string
	for ; j >= 0 && strings.HasPrefix(lines[j], "#") && !assignRE.MatchString(lines[j]); j-- {
		doc = append([]string{strings.TrimSpace(strings.TrimPrefix(lines[j], "#"))}, doc...)
	}
	return strings.TrimSpace(strings.Join(doc, "\n"))
}
