package dburl

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		url, why string // why: "" accepted, else a fragment of the refusal
	}{
		{"postgres://bw:secret@db.example:5432/salon?sslmode=require", ""},
		{"postgresql://bw@127.0.0.1/salon", ""},
		{"postgres://bw:p%40ss%23w0rd%2Fx@host/db", ""},
		{"postgres://bw:p@ss#w0rd/x@host/db", "'#'"},
		{"postgres://bw:pa:ss@h/db", "more than one ':'"},
		{"postgres://bw:p%zz@h/db", "does not parse"},
		{"postgres://bw:p@ss@h/db", "holds an '@'"},
		{"postgres://bw:se/cr@h/db", "follows the host"},
		{"postgres://bw:se?cr@h/db", "follows the host"},
		{"postgres://bw:pw@h:notaport/db", "a bad port"},
		{"postgres://bw:pw@h/db?sslmode=sometimes", "driver cannot read it"},
		{"mysql://bw:pw@h/db", "postgres://"},
		{"host=h user=bw password=pw", "postgres://"},
	}
	for _, tc := range cases {
		err := Check(tc.url)
		switch {
		case tc.why == "" && err != nil:
			t.Errorf("Check(%q) = %v, want accepted", tc.url, err)
		case tc.why != "" && (err == nil || !strings.Contains(err.Error(), tc.why)):
			t.Errorf("Check(%q) = %v, want a refusal saying %q", tc.url, err, tc.why)
		case err != nil:
			for _, piece := range []string{"bw", "pw", "p@ss", "w0rd", "pa:ss", "%zz", "se/cr", "se?cr"} {
				if strings.Contains(err.Error(), piece) && !strings.Contains(Hint, piece) {
					t.Errorf("Check(%q) quotes %q: %v", tc.url, piece, err)
				}
			}
		}
	}
}

func TestRedactor(t *testing.T) {
	cases := []struct {
		url, msg, want string
	}{
		{"postgres://bw:hunter2@h/db", "auth hunter2 failed for bw", "auth REDACTED failed for bw"},
		{"postgres://bw:p%40ss%23w0rd@h/db", "pw p@ss#w0rd or p%40ss%23w0rd", "pw REDACTED or REDACTED"},
		// A malformed URL: pgx split the password into a host and a database.
		{"postgres://bw:p@ss#w0rd/x@host/db", "lookup ss#w0rd: no such host; database \"x@127.0.0.1\"", "lookup REDACTED: no such host; database \"x@127.0.0.1\""},
		{"postgres://bw:pa:ss@h/db", "password pa:ss", "password REDACTED"},
		{"postgres://bw@h/db?password=qwerty1", "sent qwerty1", "sent REDACTED"},
		{"postgres://bw@h/db", "user bw on h", "user bw on h"},
	}
	for _, tc := range cases {
		r := NewRedactor(tc.url)
		if got := r.String(tc.msg); got != tc.want {
			t.Errorf("%s: String(%q) = %q, want %q", tc.url, tc.msg, got, tc.want)
		}
	}
	base := errors.New("root")
	err := NewRedactor("postgres://bw:hunter2@h/db").Error(fmt.Errorf("connect with hunter2: %w", base))
	if err.Error() != "connect with REDACTED: root" || !errors.Is(err, base) {
		t.Errorf("Error: %v (Is root: %v)", err, errors.Is(err, base))
	}
	if NewRedactor("").Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	r := NewRedactor("postgres://bw:hunter2@h/db")
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), r)).With("url", "postgres://bw:hunter2@h/db")
	log.WithGroup("g").Error("connect hunter2", "err", errors.New("bad hunter2"), "n", 3,
		slog.Group("inner", "s", "x hunter2"), "any", struct{ P string }{"hunter2"})
	out := buf.String()
	if strings.Contains(out, "hunter2") || strings.Count(out, Redacted) != 5 || !strings.Contains(out, `"n":3`) {
		t.Errorf("log line: %s", out)
	}
}
