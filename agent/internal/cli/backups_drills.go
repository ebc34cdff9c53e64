package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/branchwatch/branchwatch/agent/internal/inventory"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// drillsOf reads the branch's drill records ({branch}/drills/*.json) for
// `agent backups`: for each backup key, the newest drill that restored it.
// A record that does not decode is skipped, with a warning. List and Get
// only, so a read-only key does.
func drillsOf(env *Env, st store.Store) func(context.Context) (map[string]inventory.Drill, error) {
	if st == nil {
		return nil
	}
	return func(ctx context.Context) (map[string]inventory.Drill, error) {
		prefix, err := layout.DrillsPrefix(env.Opts.BranchID)
		if err != nil {
			return nil, err
		}
		out := map[string]inventory.Drill{}
		for obj, err := range store.All(ctx, st, store.ListOptions{Prefix: prefix}) {
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", prefix, err)
			}
			k, err := layout.ParseKey(obj.Key, env.Opts.Location)
			if err != nil || k.Kind != layout.DrillsDir || k.Branch != env.Opts.BranchID {
				continue
			}
			rec, err := readDrill(ctx, st, obj.Key)
			if err != nil {
				env.Logger.Warn("drill record skipped", "key", obj.Key, "error", err)
				continue
			}
			if rec.BackupKey == "" {
				continue // failed before it chose a backup
			}
			date := k.Date.Format(layout.DateFormat)
			if prev, ok := out[rec.BackupKey]; ok && prev.Date >= date {
				continue
			}
			out[rec.BackupKey] = inventory.Drill{Date: date, Key: obj.Key, OK: rec.OK, Error: rec.Error}
		}
		return out, nil
	}
}

func readDrill(ctx context.Context, st store.Store, key string) (drill.Record, error) {
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return drill.Record{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, drill.MaxBytes+1))
	if err != nil {
		return drill.Record{}, fmt.Errorf("read %s: %w", key, err)
	}
	return drill.Unmarshal(b)
}
