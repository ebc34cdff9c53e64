// Package bundle is the monthly bundle of a branch's daily metrics
// documents, {branch}/metrics/monthly/{YYYY-MM}.json (layout.MonthlyKey):
// its type, codec and validation.
//
// After a month closes the agent writes one bundle holding every final
// daily document of the month, in date order, so that a new aggregator
// reads one object per month instead of one per day. The daily documents
// stay where they are and remain the contract for every other reader; a
// bundle is only a faster way to read them.
//
// Each document is carried exactly as pushed: Entry.Body is the daily
// object's bytes, encoded in the bundle's JSON as standard base64 (with
// padding), so that decoding gives back the very bytes of the daily object
// (JSON text embedded as a raw value would be re-indented by an encoder,
// and as a string could not hold arbitrary bytes). Entry.SHA256 is the
// lower-case hex SHA-256 of those bytes; Validate checks it. Whether each
// embedded document is itself a good metrics document is for the reader
// to judge, exactly as it judges a daily object.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// CurrentVersion is the schema_version a bundle is written with and the
// only one read.
const CurrentVersion = 1

// MaxDocuments is the most documents a month holds.
const MaxDocuments = 31

// MaxBytes bounds an encoded bundle: 31 documents of the largest size,
// base64 (4/3), plus the fields around them.
const MaxBytes = MaxDocuments*(metrics.MaxDocumentBytes*4/3+256) + 4096

// Bundle is one branch's final documents of one month.
type Bundle struct {
	SchemaVersion int    `json:"schema_version"`
	BranchID      string `json:"branch_id"`
	Month         string `json:"month"`        // YYYY-MM
	GeneratedAt   string `json:"generated_at"` // RFC 3339
	// Documents are in date order, one per date at most.
	Documents []Entry `json:"documents"`
}

// Entry is one daily document as pushed.
type Entry struct {
	Date   string `json:"date"`   // YYYY-MM-DD, the daily object's key date
	SHA256 string `json:"sha256"` // lower-case hex SHA-256 of Body
	Body   []byte `json:"body"`   // the daily object's bytes (base64 in JSON)
}

// NewEntry is the entry of a daily object's bytes.
func NewEntry(date string, body []byte) Entry {
	sum := sha256.Sum256(body)
	return Entry{Date: date, SHA256: hex.EncodeToString(sum[:]), Body: body}
}

// Find returns the entry of date.
func (b *Bundle) Find(date string) (Entry, bool) {
	for _, e := range b.Documents {
		if e.Date == date {
			return e, true
		}
	}
	return Entry{}, false
}

// Stamp formats t as GeneratedAt.
func Stamp(t time.Time) string { return t.Format(time.RFC3339) }

var (
	// ErrMalformed is wrapped by every decode error that is not about the
	// version or the size.
	ErrMalformed = errors.New("malformed monthly bundle")
	// ErrUnsupportedVersion is wrapped when schema_version is missing or
	// is not CurrentVersion.
	ErrUnsupportedVersion = errors.New("unknown monthly bundle version")
	// ErrTooLarge is returned for input over MaxBytes.
	ErrTooLarge = errors.New("monthly bundle too large")
	// ErrInvalid is wrapped by every Validate error.
	ErrInvalid = errors.New("invalid monthly bundle")
	// ErrKeyMismatch is wrapped by every CheckKey error.
	ErrKeyMismatch = errors.New("monthly bundle does not match its key")
)
