package pgtools

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Tool is a PostgreSQL client program and its version.
type Tool struct {
	Name    string // "pg_dump"
	Path    string
	Version Version
}

// Finder searches for client programs. The zero value is not useful: use
// NewFinder.
type Finder struct {
	// Explicit, when set, is the only place looked at: a program's path or
	// the directory holding it (PG_DUMP_PATH).
	Explicit string
	// ExplicitSetting names the setting Explicit came from, for messages.
	ExplicitSetting string
	// PATH is the search path ("" searches nothing).
	PATH string
	// Globs are directory patterns searched after PATH.
	Globs []string
}

// DefaultGlobs are Debian's and Ubuntu's versioned client directories.
var DefaultGlobs = []string{"/usr/lib/postgresql/*/bin"}

// NewFinder searches explicit (if set, alone), else the process's PATH and
// DefaultGlobs.
func NewFinder(explicit, setting string) Finder {
	return Finder{Explicit: explicit, ExplicitSetting: setting, PATH: os.Getenv("PATH"), Globs: DefaultGlobs}
}

// Find returns the program name with a major version at least min's: the
// one of min's major when there is one (its output suits that server best),
// else the oldest newer one; among equals, the first found that is not a
// wrapper script. Without a suitable one the error names the
// server's version, the versions found and what to install.
func (f Finder) Find(ctx context.Context, name string, min Version) (Tool, error) {
	var found []Tool
	var problems []string
	for _, p := range f.candidates(name) {
		v, err := toolVersion(ctx, p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		found = append(found, Tool{Name: name, Path: p, Version: v})
	}
	var best *Tool
	for i := range found {
		t := &found[i]
		if t.Version.Major() < min.Major() {
			continue
		}
		if best == nil || t.Version.Major() < best.Version.Major() ||
			t.Version.Major() == best.Version.Major() && isWrapper(best.Path) && !isWrapper(t.Path) {
			best = t
		}
	}
	if best != nil {
		return *best, nil
	}
	return Tool{}, f.notFound(name, min, found, problems)
}

func (f Finder) notFound(name string, min Version, found []Tool, problems []string) error {
	install := fmt.Sprintf("install the PostgreSQL %s client (Debian/Ubuntu: apt-get install postgresql-client-%s, from apt.postgresql.org if your release lacks it)",
		min.MajorString(), min.MajorString())
	where := "PATH or " + strings.Join(f.Globs, ", ")
	if f.Explicit != "" {
		where = f.Explicit
		if f.ExplicitSetting != "" {
			where += " (" + f.ExplicitSetting + ")"
		}
	}
	if len(found) == 0 {
		msg := fmt.Sprintf("%s not found in %s: the server is PostgreSQL %s; %s", name, where, min, install)
		if len(problems) > 0 {
			msg += " (" + strings.Join(problems, "; ") + ")"
		}
		return fmt.Errorf("%s", msg)
	}
	var have []string
	for _, t := range found {
		have = append(have, fmt.Sprintf("%s %s at %s", name, t.Version, t.Path))
	}
	hint := ""
	if f.Explicit == "" {
		hint = ", or point PG_DUMP_PATH at a newer one"
	}
	return fmt.Errorf("%s must be at least the server's major version: the server is PostgreSQL %s but only %s found in %s; %s%s",
		name, min, strings.Join(have, ", "), where, install, hint)
}

// isWrapper reports whether path leads to a dispatcher such as Debian's
// pg_wrapper (a Perl script picking a version at each start) rather than
// the program itself: the program is preferred, being faster to start and
// certain to be the version probed.
func isWrapper(path string) bool {
	real, err := filepath.EvalSymlinks(path)
	return err == nil && filepath.Base(real) != filepath.Base(path)
}

// candidates lists the paths to try, without duplicates (symlinks resolved).
func (f Finder) candidates(name string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, p)
		}
	}
	if f.Explicit != "" {
		if fi, err := os.Stat(f.Explicit); err == nil && fi.IsDir() {
			add(filepath.Join(f.Explicit, name))
		} else if filepath.Base(f.Explicit) == name {
			add(f.Explicit)
		} else {
			// PG_DUMP_PATH names pg_dump; its pg_restore sits beside it.
			add(filepath.Join(filepath.Dir(f.Explicit), name))
		}
		return out
	}
	for _, dir := range filepath.SplitList(f.PATH) {
		if dir != "" {
			add(filepath.Join(dir, name))
		}
	}
	var dirs []string
	for _, g := range f.Globs {
		m, _ := filepath.Glob(g)
		dirs = append(dirs, m...)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		add(filepath.Join(d, name))
	}
	return out
}

// toolVersion runs "path --version".
func toolVersion(ctx context.Context, path string) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = ChildEnv()
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", path, err)
	}
	v, err := ParseToolVersion(string(out))
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", path, err)
	}
	return v, nil
}
