package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/branchwatch/branchwatch/shared/store"
)

// DefaultRequestTimeout bounds one request of a sync when Options leave
// it zero.
const DefaultRequestTimeout = 30 * time.Second

// TimeoutError is a request or download that did not finish within its
// deadline (a server that stalls mid-answer, an endpoint that never
// answers).
type TimeoutError struct {
	Op    string // "list", "stat" or "download"
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s did not finish within %s", e.Op, e.Limit)
}

// deadlineStore gives every request of a sync its own deadline: each
// listing page and HEAD, and each download from the request to the last
// byte of the body. The SDK's retries of one request share its deadline.
// Without it one stalled response holds a sync, and every later one,
// forever.
type deadlineStore struct {
	store.Store
	limit time.Duration
}

func (s deadlineStore) timeout(ctx, parent context.Context, op string, err error) error {
	if err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%v)", &TimeoutError{Op: op, Limit: s.limit}, err)
	}
	return err
}

// List lists one page within the deadline.
func (s deadlineStore) List(parent context.Context, opts store.ListOptions) (store.Page, error) {
	ctx, cancel := context.WithTimeout(parent, s.limit)
	defer cancel()
	p, err := s.Store.List(ctx, opts)
	return p, s.timeout(ctx, parent, "list", err)
}

// Stat reads an object's metadata within the deadline.
func (s deadlineStore) Stat(parent context.Context, key string) (store.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(parent, s.limit)
	defer cancel()
	info, err := s.Store.Stat(ctx, key)
	return info, s.timeout(ctx, parent, "stat", err)
}

// Get opens the object; the deadline runs until the body is closed.
func (s deadlineStore) Get(parent context.Context, key string) (io.ReadCloser, store.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(parent, s.limit)
	rc, info, err := s.Store.Get(ctx, key)
	if err != nil {
		cancel()
		return nil, info, s.timeout(ctx, parent, "download", err)
	}
	return &deadlineBody{rc: rc, ctx: ctx, parent: parent, cancel: cancel, s: s}, info, nil
}

// deadlineBody is a download's body under its deadline.
type deadlineBody struct {
	rc          io.ReadCloser
	ctx, parent context.Context
	cancel      context.CancelFunc
	s           deadlineStore
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.s.timeout(b.ctx, b.parent, "download", err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	defer b.cancel()
	return b.rc.Close()
}
