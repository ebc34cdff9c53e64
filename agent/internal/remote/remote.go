// Package remote opens the bucket the agent uploads to.
package remote

import (
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Open returns the S3 store, or nil when the agent runs local-only.
func Open(o options.Options) (store.Store, error) {
	if !o.S3Enabled {
		return nil, nil
	}
	return store.NewS3(o.S3)
}
