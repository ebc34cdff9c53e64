package deploycheck

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Unit is a parsed systemd unit file: section → key → values in order
// (systemd keys may repeat, e.g. Environment=).
type Unit map[string]map[string][]string

// Get returns the last value of key in section ("" if absent), the one
// systemd uses for single-valued keys.
func (u Unit) Get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// Environment returns the variables set by Environment= lines of [Service].
func (u Unit) Environment() map[string]string {
	env := map[string]string{}
	for _, line := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(strings.Trim(kv, `"`), "="); ok {
				env[k] = v
			}
		}
	}
	return env
}

var (
	sectionRE = regexp.MustCompile(`^\[([A-Za-z]+)\]$`)
	keyRE     = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)=(.*)$`)
)

// ParseUnit reads a unit file: comments, [Section] headers and Key=value
// lines. Anything else (a line outside a section, a malformed line, a
// continuation backslash, which these units do not use) is an error.
func ParseUnit(path string) (Unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := Unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case sectionRE.MatchString(line):
			section = sectionRE.FindStringSubmatch(line)[1]
			if _, dup := u[section]; dup {
				return nil, fmt.Errorf("%s:%d: section [%s] appears twice", path, n, section)
			}
			u[section] = map[string][]string{}
		case keyRE.MatchString(line) && section != "":
			if strings.HasSuffix(line, `\`) {
				return nil, fmt.Errorf("%s:%d: continuation lines are not used here", path, n)
			}
			m := keyRE.FindStringSubmatch(line)
			u[section][m[1]] = append(u[section][m[1]], strings.TrimSpace(m[2]))
		default:
			return nil, fmt.Errorf("%s:%d: not a [Section] or Key=value line inside a section: %q", path, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return u, nil
}
