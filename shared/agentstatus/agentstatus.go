// Package agentstatus is the agent status document, the one object a branch
// agent overwrites at {branch}/agent/status.json (layout.AgentStatusKey):
// who wrote it, when, with which agent version, and how its last
// configuration check went. Writing it is also how `agent doctor` proves the
// bucket is writable under the branch's prefix without leaving a new object
// behind (a key without delete capability can still overwrite it).
//
// The document is deliberately small; later fields are added as optional
// members, and readers ignore members they do not know.
package agentstatus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
)

// CurrentVersion is the schema_version this package writes.
const CurrentVersion = 1

// MaxBytes bounds a document read back from the bucket.
const MaxBytes = 64 << 10

// ContentType is the stored object's content type.
const ContentType = "application/json"

// ErrMalformed is wrapped by every decoding and validation error.
var ErrMalformed = errors.New("malformed agent status")

// Status is the document.
type Status struct {
	SchemaVersion int    `json:"schema_version"`
	BranchID      string `json:"branch_id"`
	// UpdatedAt is when the agent wrote the document (RFC 3339).
	UpdatedAt    string `json:"updated_at"`
	AgentVersion string `json:"agent_version"`
	// Checks is the outcome of the configuration checks that wrote it:
	// "ok" or "failing" (the bucket check writes the document, so a
	// failing bucket leaves the previous one in place).
	Checks string `json:"checks"`
	// Failing names each failing check as "SETTING: reason".
	Failing []string `json:"failing,omitempty"`
}

// Check outcomes.
const (
	ChecksOK      = "ok"
	ChecksFailing = "failing"
)

// New is a status of branch at t.
func New(branch, agentVersion string, t time.Time, failing []string) Status {
	s := Status{SchemaVersion: CurrentVersion, BranchID: branch, UpdatedAt: t.Format(time.RFC3339),
		AgentVersion: agentVersion, Checks: ChecksOK}
	if len(failing) > 0 {
		s.Checks, s.Failing = ChecksFailing, failing
	}
	return s
}

// Validate checks the invariants.
func (s Status) Validate() error {
	var errs []error
	if s.SchemaVersion != CurrentVersion {
		errs = append(errs, fmt.Errorf("schema_version %d is not %d", s.SchemaVersion, CurrentVersion))
	}
	if err := layout.ValidateBranchID(s.BranchID); err != nil {
		errs = append(errs, fmt.Errorf("branch_id: %w", err))
	}
	if _, err := time.Parse(time.RFC3339, s.UpdatedAt); err != nil {
		errs = append(errs, fmt.Errorf("updated_at %q is not an RFC 3339 time", s.UpdatedAt))
	}
	if s.AgentVersion == "" {
		errs = append(errs, errors.New("agent_version is empty"))
	}
	switch {
	case s.Checks == ChecksOK && len(s.Failing) > 0:
		errs = append(errs, errors.New(`checks is "ok" but failing is not empty`))
	case s.Checks == ChecksFailing && len(s.Failing) == 0:
		errs = append(errs, errors.New(`checks is "failing" but failing is empty`))
	case s.Checks != ChecksOK && s.Checks != ChecksFailing:
		errs = append(errs, fmt.Errorf(`checks %q is not "ok" or "failing"`, s.Checks))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMalformed, errors.Join(errs...))
	}
	return nil
}

// Marshal validates s and encodes it (two-space indent, trailing newline).
func (s Status) Marshal() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode agent status: %w", err)
	}
	return b.Bytes(), nil
}

// Decode reads and validates one document (at most MaxBytes).
func Decode(r io.Reader) (Status, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return Status{}, fmt.Errorf("read agent status: %w", err)
	}
	if len(data) > MaxBytes {
		return Status{}, fmt.Errorf("%w: more than %d bytes", ErrMalformed, MaxBytes)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return Status{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := s.Validate(); err != nil {
		return Status{}, err
	}
	return s, nil
}
