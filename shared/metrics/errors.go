package metrics

import (
	"errors"
	"fmt"

	"github.com/branchwatch/branchwatch/shared/internal/docjson"
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

// join returns nil for no errors, else the list under sentinel, as one
// line: "sentinel: first; second". errors.Is finds the sentinel and every
// error of the list.
func join(sentinel error, errs []error) error {
	return docjson.Join(sentinel, errs)
}
