package metrics

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrMalformed is wrapped by every decode error that is not about the
	// version or the size: bad JSON, a missing or null field, a wrong type.
	ErrMalformed = errors.New("malformed metrics document")
	// ErrUnsupportedVersion is wrapped when schema_version is missing or is
	// not CurrentMajor; the aggregator reports it as an unknown major version.
	ErrUnsupportedVersion = errors.New("unknown schema major version")
	// ErrTooLarge is returned for input over MaxDocumentBytes.
	ErrTooLarge = errors.New("metrics document too large")
	// ErrInvalid is wrapped by every Validate error.
	ErrInvalid = errors.New("invalid metrics document")
	// ErrKeyMismatch is wrapped by every CheckKey error.
	ErrKeyMismatch = errors.New("metrics document does not match its key")
)

// fieldErr is one problem with one named field.
func fieldErr(name, format string, args ...any) error {
	return errors.New(name + " " + fmt.Sprintf(format, args...))
}

// problems is a list of errors reported under one sentinel, as one line:
// "sentinel: first; second". errors.Is finds the sentinel and every wrapped
// error of the list.
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

func (p *problems) Unwrap() []error {
	return append([]error{p.sentinel}, p.errs...)
}

// join returns nil for no errors, else the list under sentinel.
func join(sentinel error, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return &problems{sentinel: sentinel, errs: errs}
}
