// Package dburl checks DATABASE_URL strictly and keeps its password out of
// every message: one Redactor serves the standard error line, the JSON log
// (through Handler), /healthz and the healthchecks /fail pings.
//
// A password holding a reserved character that is not percent-encoded
// ("postgres://bw:p@ss#w0rd/x@host/db") makes a URL that parsers read in
// surprising ways: part of the password becomes a host name or a database
// name and then appears in connection errors. Check refuses such a URL at
// start-up without quoting any of it.
package dburl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Hint is the advice every refusal ends with.
const Hint = "percent-encode reserved characters in the password (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)"

// Check refuses a connection URL that is not a plain
// postgres://user:password@host:port/db?params. The error says why in
// words and never quotes any part of the URL.
func Check(raw string) error {
	rest, ok := cutScheme(raw)
	if !ok {
		return errors.New("is not a postgres:// (or postgresql://) URL")
	}
	fail := func(why string) error {
		return fmt.Errorf("is not a valid PostgreSQL connection URL (%s): %s", why, Hint)
	}
	if strings.Contains(raw, "#") {
		return fail("it holds a '#'")
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if strings.Contains(rest[end:], "@") {
		return fail("an '@' follows the host part")
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		if strings.Contains(userinfo, "@") {
			return fail("the user information holds an '@'")
		}
		if strings.Count(userinfo, ":") > 1 {
			return fail("the user information holds more than one ':'")
		}
	}
	if _, err := url.Parse(raw); err != nil {
		return fail("it does not parse: a bad port, a bad %-escape or a reserved character")
	}
	if _, err := pgx.ParseConfig(raw); err != nil {
		return fail("the driver cannot read it: check the host, port and parameters")
	}
	return nil
}

func cutScheme(raw string) (string, bool) {
	for _, s := range []string{"postgres://", "postgresql://"} {
		if len(raw) >= len(s) && strings.EqualFold(raw[:len(s)], s) {
			return raw[len(s):], true
		}
	}
	return "", false
}
