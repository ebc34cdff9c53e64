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
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/shared/instance"
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
	// Instance is the writing agent's instance id (package instance:
	// host and install id); optional, absent from older agents.
	Instance string `json:"instance,omitempty"`
	// Checks is the outcome of the configuration checks that wrote it:
	// "ok" or "failing" (the bucket check writes the document, so a
	// failing bucket leaves the previous one in place).
	Checks string `json:"checks"`
	// Failing names each failing check as "SETTING: reason".
	Failing []string `json:"failing,omitempty"`

	// The members below are written by `agent run` after every job and
	// every round of checks (an older agent leaves them out).

	// ServerVersion and PGDumpVersion are PostgreSQL's and pg_dump's
	// versions as last seen ("" when not yet known).
	ServerVersion string `json:"server_version,omitempty"`
	PGDumpVersion string `json:"pg_dump_version,omitempty"`
	// Jobs are the daemon's jobs by name (backup, summary, ...).
	Jobs map[string]Job `json:"jobs,omitempty"`
	// BackupDirFreeBytes is BACKUP_DIR's free space; LastDumpSize the
	// newest dump's size (nil: not known).
	BackupDirFreeBytes *int64 `json:"backup_dir_free_bytes,omitempty"`
	LastDumpSize       *int64 `json:"last_dump_size,omitempty"`
	// Doctor is the last round of configuration checks, in order.
	Doctor []CheckResult `json:"doctor,omitempty"`
}

// Job is one daemon job's record. Times are RFC 3339, "" when none.
type Job struct {
	LastAttempt string `json:"last_attempt,omitempty"`
	LastSuccess string `json:"last_success,omitempty"`
	// LastError is the last attempt's error in one line (redacted), ""
	// when it succeeded.
	LastError string `json:"last_error,omitempty"`
	NextRun   string `json:"next_run,omitempty"`
}

// CheckResult is one configuration check's outcome.
type CheckResult struct {
	Check   string `json:"check"`
	Setting string `json:"setting"`
	// Status is CheckPass, CheckFail or CheckSkip.
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Check result statuses.
const (
	CheckPass = "pass"
	CheckFail = "fail"
	CheckSkip = "skip"
)

// MaxLineBytes bounds a job's error and a check's detail.
const MaxLineBytes = 1000

// DoctorFailing lists the failing checks.
func (s Status) DoctorFailing() []CheckResult {
	var out []CheckResult
	for _, c := range s.Doctor {
		if c.Status == CheckFail {
			out = append(out, c)
		}
	}
	return out
}

// UpdatedTime is UpdatedAt parsed (zero when malformed).
func (s Status) UpdatedTime() time.Time {
	t, _ := time.Parse(time.RFC3339, s.UpdatedAt)
	return t
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
	if s.Instance != "" {
		if err := instance.Validate(s.Instance); err != nil {
			errs = append(errs, fmt.Errorf("instance: %w", err))
		}
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
	errs = append(errs, s.validateDetails()...)
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

// validateDetails checks the members `agent run` adds.
func (s Status) validateDetails() []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.Jobs)) {
		j := s.Jobs[name]
		if name == "" {
			errs = append(errs, errors.New("jobs: a job has no name"))
		}
		for field, v := range map[string]string{"last_attempt": j.LastAttempt, "last_success": j.LastSuccess, "next_run": j.NextRun} {
			if v == "" {
				continue
			}
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				errs = append(errs, fmt.Errorf("jobs.%s.%s %q is not an RFC 3339 time", name, field, v))
			}
		}
		if err := oneLine(j.LastError); err != nil {
			errs = append(errs, fmt.Errorf("jobs.%s.last_error %w", name, err))
		}
	}
	for field, v := range map[string]*int64{"backup_dir_free_bytes": s.BackupDirFreeBytes, "last_dump_size": s.LastDumpSize} {
		if v != nil && *v < 0 {
			errs = append(errs, fmt.Errorf("%s %d is negative", field, *v))
		}
	}
	for i, c := range s.Doctor {
		if c.Check == "" {
			errs = append(errs, fmt.Errorf("doctor[%d].check is empty", i))
		}
		if c.Status != CheckPass && c.Status != CheckFail && c.Status != CheckSkip {
			errs = append(errs, fmt.Errorf(`doctor[%d].status %q is not "pass", "fail" or "skip"`, i, c.Status))
		}
		if err := oneLine(c.Detail); err != nil {
			errs = append(errs, fmt.Errorf("doctor[%d].detail %w", i, err))
		}
	}
	return errs
}

func oneLine(s string) error {
	switch {
	case len(s) > MaxLineBytes:
		return fmt.Errorf("is longer than %d bytes", MaxLineBytes)
	case strings.ContainsAny(s, "\r\n"):
		return errors.New("is more than one line")
	}
	return nil
}
