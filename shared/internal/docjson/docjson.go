// Package docjson holds what the small bucket documents other than metrics
// (dump manifests, drill records) share: a strict decoder that names every
// missing or null field, one-line lists of problems, and the checks of
// timestamps, checksums and table names.
package docjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
)

// Sentinels are the errors a document package reports under.
type Sentinels struct {
	Malformed, UnsupportedVersion, TooLarge error
}

// Decode reads data into v strictly: one JSON object, at most max bytes,
// schema_version first (it must be version), then every name of required
// present and not null, then the typed decoding of v (a field of the wrong
// JSON type is named). Unknown fields are ignored, for later minor versions.
func Decode(data []byte, max int, version int, required []string, s Sentinels, v any) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, limit %d", s.TooLarge, len(data), max)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return fmt.Errorf("%w: not a JSON object", s.Malformed)
		}
		return fmt.Errorf("%w: malformed JSON: %v", s.Malformed, err)
	}
	if obj == nil {
		return fmt.Errorf("%w: not a JSON object (got null)", s.Malformed)
	}
	raw, ok := obj["schema_version"]
	if !ok {
		return fmt.Errorf("%w: schema_version is missing", s.UnsupportedVersion)
	}
	var got int
	if json.Unmarshal(raw, &got) != nil || got != version {
		return fmt.Errorf("%w: schema_version is %s, want %d", s.UnsupportedVersion, excerpt(raw), version)
	}
	var errs []error
	for _, name := range required {
		r, ok := obj[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s is missing", name))
		case string(r) == "null":
			errs = append(errs, fmt.Errorf("%s is null", name))
		}
	}
	if err := Join(s.Malformed, errs); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return fmt.Errorf("%w: %s is %s, want %s", s.Malformed, te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("%w: %v", s.Malformed, err)
	}
	return nil
}

// Unmarshal is Decode into a new T.
func Unmarshal[T any](data []byte, max, version int, required []string, s Sentinels) (T, error) {
	var v T
	if err := Decode(data, max, version, required, s, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Header checks the fields every document starts with: schema_version
// (reported under unsupported) and branch_id.
func Header(version, want int, branch string, unsupported error) []error {
	var errs []error
	if version != want {
		errs = append(errs, fmt.Errorf("%w: schema_version is %d, want %d", unsupported, version, want))
	}
	if err := layout.ValidateBranchID(branch); err != nil {
		errs = append(errs, fmt.Errorf("branch_id: %w", err))
	}
	return errs
}

// Encode is the documents' one encoding: two-space indent, a trailing
// newline, no HTML escaping.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// problems is a list of errors reported under one sentinel, on one line.
type problems struct {
	sentinel error
	errs     []error
}

func (p *problems) Error() string {
	msgs := make([]string, len(p.errs))
	for i, e := range p.errs {
		msgs[i] = e.Error()
	}
	return p.sentinel.Error() + ": " + strings.Join(msgs, "; ")
}

func (p *problems) Unwrap() []error { return append([]error{p.sentinel}, p.errs...) }

// Join is nil for no errors, else one error listing them under sentinel.
func Join(sentinel error, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return &problems{sentinel: sentinel, errs: errs}
}

// Timestamp parses field's value as RFC 3339 with a UTC offset.
func Timestamp(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not RFC 3339 with a UTC offset", field, excerpt([]byte(v)))
	}
	return t, nil
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// SHA256 checks a lower-case hex SHA-256.
func SHA256(field, v string) error {
	if !sha256RE.MatchString(v) {
		return fmt.Errorf("%s %q is not a lower-case hex SHA-256", field, excerpt([]byte(v)))
	}
	return nil
}

// TableName checks "schema.table": two non-empty parts (the table part may
// itself hold dots, as PostgreSQL allows in quoted names).
func TableName(field, name string) error {
	schema, table, ok := strings.Cut(name, ".")
	if !ok || schema == "" || table == "" {
		return fmt.Errorf("%s: %q is not \"schema.table\"", field, excerpt([]byte(name)))
	}
	return nil
}

// OneLine checks that an error text is one line of at most max bytes.
func OneLine(field, v string, max int) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%s holds a line break, want one line", field)
	}
	if len(v) > max {
		return fmt.Errorf("%s is %d bytes, limit %d", field, len(v), max)
	}
	return nil
}

func excerpt(raw []byte) string {
	const max = 40
	if len(raw) <= max {
		return string(raw)
	}
	return string(bytes.ToValidUTF8(raw[:max], nil)) + "…"
}
