package store

import (
	"context"
	"fmt"
)

// CheckAccess makes one cheap request, a listing of at most one key under
// prefix (a branch's "<branch>/"), so that a missing bucket, an unknown or
// refused key, a wrong secret or a wrong region is found before any long
// work (a dump) starts. A key restricted to other prefixes is refused here.
// It does not prove the key may write: the first upload does.
func CheckAccess(ctx context.Context, s Store, prefix string) error {
	if _, err := s.List(ctx, ListOptions{Prefix: prefix, MaxKeys: 1}); err != nil {
		return fmt.Errorf("check bucket access: %w", err)
	}
	return nil
}
