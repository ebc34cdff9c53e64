package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Marshal returns b as JSON: fields in declaration order, two-space
// indent, a trailing newline. It does not validate b.
func (b Bundle) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("encode monthly bundle: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads one bundle from r, reading at most MaxBytes+1 bytes.
func Decode(r io.Reader) (Bundle, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return Bundle{}, fmt.Errorf("read monthly bundle: %w", err)
	}
	return Unmarshal(data)
}

// wire is the bundle as read: pointers tell a missing field from a zero one.
type wire struct {
	SchemaVersion json.RawMessage `json:"schema_version"`
	BranchID      *string         `json:"branch_id"`
	Month         *string         `json:"month"`
	GeneratedAt   *string         `json:"generated_at"`
	Documents     *[]Entry        `json:"documents"`
}

// Unmarshal decodes a bundle: one JSON object with every field present
// and of its type (unknown extra fields are ignored). Errors wrap
// ErrTooLarge, ErrUnsupportedVersion (checked first) or ErrMalformed.
// Unmarshal does not check the contents: call Validate.
func Unmarshal(data []byte) (Bundle, error) {
	if len(data) > MaxBytes {
		return Bundle{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxBytes)
	}
	var w wire
	err := json.Unmarshal(data, &w)
	if _, typeErr := errors.AsType[*json.UnmarshalTypeError](err); err != nil && !typeErr {
		return Bundle{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// The version is judged first: a newer bundle may change the rest.
	var version int
	if len(w.SchemaVersion) == 0 || json.Unmarshal(w.SchemaVersion, &version) != nil || version != CurrentVersion {
		shown := string(w.SchemaVersion)
		if shown == "" {
			shown = "missing"
		}
		return Bundle{}, fmt.Errorf("%w: schema_version is %s, want %d", ErrUnsupportedVersion, shown, CurrentVersion)
	}
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case w.BranchID == nil:
		return Bundle{}, fmt.Errorf("%w: branch_id is missing", ErrMalformed)
	case w.Month == nil:
		return Bundle{}, fmt.Errorf("%w: month is missing", ErrMalformed)
	case w.GeneratedAt == nil:
		return Bundle{}, fmt.Errorf("%w: generated_at is missing", ErrMalformed)
	case w.Documents == nil:
		return Bundle{}, fmt.Errorf("%w: documents is missing", ErrMalformed)
	}
	return Bundle{SchemaVersion: version, BranchID: *w.BranchID, Month: *w.Month, GeneratedAt: *w.GeneratedAt, Documents: *w.Documents}, nil
}
