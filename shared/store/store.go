// Package store is the storage contract that branch agents and the aggregator
// share: put a stream with metadata, get, stat, list one prefix page by page,
// delete. Two implementations satisfy it: S3 (any S3-compatible server,
// Backblaze B2 in production) and Dir (a local directory mirroring the bucket
// layout). One conformance suite (package storetest) tests both.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) by Get and Stat when the key does not exist.
var ErrNotFound = errors.New("object not found")

// ErrBadKey is returned (wrapped) for a key that is not a clean relative path.
var ErrBadKey = errors.New("invalid object key")

// IsNotFound reports whether err means the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // opaque; changes when the content changes
	LastModified time.Time
	ContentType  string            // set by Stat and Get only
	Metadata     map[string]string // set by Stat and Get only; keys lower-case
}

// PutOptions carries what Put stores beside the bytes.
type PutOptions struct {
	// Size is the length of the stream, or -1 when unknown (it then goes up
	// in parts with bounded memory).
	Size        int64
	ContentType string
	// Metadata keys must be lower-case ASCII letters, digits and '-'.
	Metadata map[string]string
	// RetainUntil, when not zero, puts the object under object lock in
	// LockMode ("COMPLIANCE" or "GOVERNANCE") until then: nobody, the
	// uploader included, can delete or overwrite that version before. The
	// bucket must have object lock enabled. The directory store ignores it.
	RetainUntil time.Time
	LockMode    string
}

// ListOptions selects one page of a listing.
type ListOptions struct {
	Prefix    string
	Delimiter string // "/" to group keys into CommonPrefixes
	Token     string // NextToken of the previous page; "" for the first
	// StartAfter lists only keys greater than it (S3 start-after); ignored
	// when Token is set, which already carries the position.
	StartAfter string
	MaxKeys    int // 0 means the server's default (1000)
}

// Page is one page of a listing, in lexical key order.
type Page struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	NextToken      string // "" when this was the last page
}

// Store is the storage contract.
//
// Every method wraps its errors with the operation and key. Implementations
// retry transient failures (5xx, throttling, timeouts) themselves; an error
// returned is final for that call.
type Store interface {
	// Put stores the stream under key, replacing any previous object. The
	// object appears under key only once the whole stream was stored: a
	// failed or cancelled Put leaves no partial object.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens the object. The caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat returns the object's size, ETag and metadata.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns one page of the keys under a prefix.
	List(ctx context.Context, opts ListOptions) (Page, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Presigner is implemented by stores that can hand out a short-lived URL
// for downloading one object.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// UploadCleaner is implemented by stores that can leave unfinished uploads
// behind (S3 multipart): it aborts those under a prefix and says how many.
type UploadCleaner interface {
	AbortIncompleteUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error)
}

// All iterates over every object of a listing, page by page.
func All(ctx context.Context, s Store, opts ListOptions) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		for {
			page, err := s.List(ctx, opts)
			if err != nil {
				yield(ObjectInfo{}, err)
				return
			}
			for _, o := range page.Objects {
				if !yield(o, nil) {
					return
				}
			}
			if page.NextToken == "" {
				return
			}
			opts.Token = page.NextToken
		}
	}
}

// Prefixes returns every common prefix under opts.Prefix with delimiter "/".
func Prefixes(ctx context.Context, s Store, prefix string) ([]string, error) {
	opts := ListOptions{Prefix: prefix, Delimiter: "/"}
	var out []string
	for {
		page, err := s.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.CommonPrefixes...)
		if page.NextToken == "" {
			return out, nil
		}
		opts.Token = page.NextToken
	}
}

// ValidateKey refuses keys that are not clean relative paths: empty, absolute,
// with empty, "." or ".." segments, segments starting with '.', backslashes
// or control characters.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrBadKey)
	}
	if len(key) > 1024 {
		return fmt.Errorf("%w: longer than 1024 bytes", ErrBadKey)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg[0] == '.' {
			return fmt.Errorf("%w: %q has an empty or dot segment", ErrBadKey, key)
		}
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Errorf("%w: %q holds a control character or backslash", ErrBadKey, key)
		}
	}
	return nil
}

func validateMetadata(m map[string]string) error {
	for k := range m {
		if k == "" {
			return errors.New("empty metadata key")
		}
		for _, c := range k {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("metadata key %q: only a-z, 0-9 and '-'", k)
			}
		}
	}
	return nil
}

// opOn names an operation on a prefix for an error's context: "list
// branch-x/", or just "list" for the whole bucket (an empty prefix would
// read "list : ...").
func opOn(op, prefix string) string {
	if prefix == "" {
		return op
	}
	return op + " " + prefix
}
