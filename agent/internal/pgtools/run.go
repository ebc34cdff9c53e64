package pgtools

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// TailBuffer keeps the last Max bytes written to it (a child's stderr).
type TailBuffer struct {
	Max int
	mu  sync.Mutex
	buf []byte
}

// Write keeps the tail.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	limit := t.Max
	if limit <= 0 {
		limit = 8 << 10
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > limit {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-limit:]...)
	}
	return len(p), nil
}

// String is the tail, trimmed, on one line.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ReplaceAll(strings.TrimSpace(string(t.buf)), "\n", "; ")
}

// ExitError describes a client program that failed.
func ExitError(ctx context.Context, name string, err error, stderr *TailBuffer) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s stopped: %w", name, context.Cause(ctx))
	}
	msg := stderr.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) && msg != "" {
		return fmt.Errorf("%s failed (%v): %s", name, ee.ProcessState, msg)
	}
	if msg != "" {
		return fmt.Errorf("%s failed: %w: %s", name, err, msg)
	}
	return fmt.Errorf("%s failed: %w", name, err)
}

// TOCEntry is one line of "pg_restore --list".
type TOCEntry struct {
	ID     int
	Desc   string // "TABLE", "TABLE DATA", "INDEX", ...
	Schema string
	Name   string
}

// TOC is an archive's table of contents.
type TOC struct {
	Entries []TOCEntry
	// DumpVersion is the pg_dump that wrote the archive, when stated.
	DumpVersion Version
	// ServerVersion is the server it was dumped from, when stated.
	ServerVersion Version
}

// Tables are the schema-qualified names ("public.bills") of the archive's tables.
func (t TOC) Tables() []string {
	var out []string
	for _, e := range t.Entries {
		if e.Desc == "TABLE" {
			out = append(out, e.Schema+"."+e.Name)
		}
	}
	return out
}

const (
	dumpedByPrefix   = ";     Dumped by pg_dump version:"
	dumpedFromPrefix = ";     Dumped from database version:"
)

var (
	tocLineRE    = regexp.MustCompile(`^(\d+); \d+ \d+ (.*)$`)
	multiWordTOC = []string{"TABLE DATA", "TABLE ATTACH", "SEQUENCE SET", "SEQUENCE OWNED BY", "FK CONSTRAINT",
		"MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "INDEX ATTACH", "DEFAULT ACL", "ROW SECURITY",
		"FOREIGN TABLE", "CHECK CONSTRAINT", "EVENT TRIGGER", "LARGE OBJECT", "DATABASE PROPERTIES",
		"PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA", "SERVER", "USER MAPPING", "FOREIGN DATA WRAPPER",
		"TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE",
		"OPERATOR CLASS", "OPERATOR FAMILY", "ACCESS METHOD", "SHELL TYPE", "PROCEDURAL LANGUAGE"}
)

// ParseTOC reads the output of "pg_restore --list".
func ParseTOC(out []byte) (TOC, error) {
	var toc TOC
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, dumpedByPrefix); ok {
			toc.DumpVersion, _ = ParseVersion(strings.TrimSpace(v))
			continue
		}
		if v, ok := strings.CutPrefix(line, dumpedFromPrefix); ok {
			toc.ServerVersion, _ = ParseVersion(strings.TrimSpace(v))
			continue
		}
		m := tocLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id, _ := strconv.Atoi(m[1])
		rest := m[2]
		desc := ""
		for _, d := range multiWordTOC {
			if strings.HasPrefix(rest, d+" ") {
				desc = d
				break
			}
		}
		if desc == "" {
			desc, _, _ = strings.Cut(rest, " ")
		}
		rest = strings.TrimPrefix(rest, desc+" ")
		// rest is "schema name owner"; the name may hold spaces, the owner not.
		schema, nameOwner, _ := strings.Cut(rest, " ")
		name := nameOwner
		if i := strings.LastIndex(nameOwner, " "); i >= 0 {
			name = nameOwner[:i]
		}
		toc.Entries = append(toc.Entries, TOCEntry{ID: id, Desc: desc, Schema: schema, Name: name})
	}
	if err := sc.Err(); err != nil {
		return TOC{}, fmt.Errorf("read table of contents: %w", err)
	}
	return toc, nil
}

// ListArchive runs "pg_restore --list file": it succeeds only for a readable
// custom-format archive.
func ListArchive(ctx context.Context, pgRestore, file string) (TOC, error) {
	cmd := exec.CommandContext(ctx, pgRestore, "--list", file)
	cmd.Env = ChildEnv()
	var out bytes.Buffer
	stderr := &TailBuffer{}
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := Run(cmd, nil); err != nil {
		return TOC{}, ExitError(ctx, "pg_restore --list", err, stderr)
	}
	toc, err := ParseTOC(out.Bytes())
	if err != nil {
		return TOC{}, err
	}
	return toc, nil
}
