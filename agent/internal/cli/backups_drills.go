package cli

import (
	"context"

	"github.com/branchwatch/branchwatch/agent/internal/inventory"
	"github.com/branchwatch/branchwatch/shared/store"
)

// drillsOf reads the branch's drill records for `agent backups`. Drill
// records are not written yet, so no backup has a last drill.
func drillsOf(_ *Env, _ store.Store) func(context.Context) (map[string]inventory.Drill, error) {
	return nil
}
