package dburl

import (
	"net/url"
	"sort"
	"strings"
)

// Redacted replaces a secret in a message.
const Redacted = "REDACTED"

// minPiece is the shortest piece of a password that is redacted on its
// own: shorter ones ("x", "ss") would blank out ordinary words.
const minPiece = 3

// Redactor removes a connection URL's password, and the pieces a
// malformed URL may have split it into, from messages.
type Redactor struct {
	pieces []string // longest first
}

// NewRedactor prepares the redaction of raw's password. raw may be
// malformed: the password is then taken as everything between the first
// ':' after the scheme and the last '@', and every run of it between
// reserved characters is redacted as well.
func NewRedactor(raw string) Redactor {
	seen := map[string]bool{}
	add := func(s string, min int) {
		if len(s) >= min && !seen[s] {
			seen[s] = true
		}
	}
	if u, err := url.Parse(raw); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p, 2)
			add(url.QueryEscape(p), 2)
			add(url.PathEscape(p), 2)
		}
		if p := u.Query().Get("password"); p != "" {
			add(p, 2)
		}
	}
	if rest, ok := cutScheme(raw); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, has := strings.Cut(rest[:at], ":"); has {
				add(pw, 2)
				if dec, err := url.PathUnescape(pw); err == nil {
					add(dec, 2)
				}
				for _, p := range runs(pw) {
					add(p, minPiece)
				}
			}
		}
	}
	r := Redactor{}
	for s := range seen {
		r.pieces = append(r.pieces, s)
	}
	sort.Slice(r.pieces, func(i, j int) bool {
		if len(r.pieces[i]) != len(r.pieces[j]) {
			return len(r.pieces[i]) > len(r.pieces[j])
		}
		return r.pieces[i] < r.pieces[j]
	})
	return r
}

// runs are the substrings of s that start at its beginning or after a
// reserved character and end at its end or before one: what a parser
// splitting s at those characters may print.
func runs(s string) []string {
	const reserved = "@#/?:&="
	starts, ends := []int{0}, []int{}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(reserved, s[i]) >= 0 {
			ends = append(ends, i)
			starts = append(starts, i+1)
		}
	}
	ends = append(ends, len(s))
	var out []string
	for _, a := range starts {
		for _, b := range ends {
			if b > a {
				out = append(out, s[a:b])
			}
		}
	}
	return out
}

// String is s with every piece of the password replaced.
func (r Redactor) String(s string) string {
	for _, p := range r.pieces {
		if strings.Contains(s, p) {
			s = strings.ReplaceAll(s, p, Redacted)
		}
	}
	return s
}

// Error is err with a redacted message; errors.Is and errors.As still
// see err. nil stays nil.
func (r Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{err: err, msg: msg}
}

type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
