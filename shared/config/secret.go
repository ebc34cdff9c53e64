package config

import (
	"encoding/json"
	"log/slog"
)

// Secret is a setting that must never be shown: a password, a token, a URL
// carrying either. It prints as <secret> with every fmt verb, in JSON and
// in slog, so a settings dump, a log line, a page or /metrics cannot leak
// it; Reveal is the one way to the value, for the code that uses it.
type Secret string

const secretShown = "<secret>"

// Reveal is the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret holds a value.
func (s Secret) IsSet() bool { return s != "" }

// String hides the value.
func (s Secret) String() string { return secretShown }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return secretShown }

// MarshalJSON hides the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(secretShown) }

// MarshalText hides the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(secretShown), nil }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(secretShown) }

// Secret returns the variable as a Secret ("" when unset).
func (r *Reader) Secret(name string) Secret { return Secret(r.String(name, "")) }
