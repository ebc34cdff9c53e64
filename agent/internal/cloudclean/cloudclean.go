// Package cloudclean is the cloud retention sweep (the seed's
// _weekly_cloud_cleanup): it deletes this branch's old backups from the
// bucket, always keeping the newest good ones.
package cloudclean

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// UnfinishedUploadAge is the age above which the sweep aborts unfinished
// multipart uploads under the branch's backups prefix (no upload of ours
// runs for a day).
const UnfinishedUploadAge = 24 * time.Hour

// Result counts what the sweep did.
type Result struct {
	Deleted int // backups deleted
	Kept    int // this branch's backups left in the bucket
	// KeptNewest are the newest good backups kept whatever their age.
	KeptNewest []string
	// DeletedKeys are the keys deleted.
	DeletedKeys []string
	// AbortedUploads counts unfinished multipart uploads aborted.
	AbortedUploads int
}

type candidate struct {
	key   string
	taken time.Time
}

// Run deletes backups taken more than o.CloudRetentionDays before now:
// only keys under this branch's backups prefix that parse as this branch's
// dumps, and never the o.CloudKeepNewest newest good (confirmed) ones. Each
// object goes with a single DeleteObject call (the batch call needs a
// checksum header that B2-style servers require and the SDK no longer sends
// by default). A failed delete does not stop the others; the error lists them.
func Run(ctx context.Context, o options.Options, st store.Store, logger *slog.Logger, now time.Time) (Result, error) {
	var res Result
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "cloudclean")
	if st == nil {
		log.Info("no S3 settings: no cloud backups to clean (backups stay local)")
		return res, nil
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	prefix, err := layout.BackupsPrefix(o.BranchID)
	if err != nil {
		return res, fmt.Errorf("cloud cleanup: %w", err)
	}
	if o.CloudRetentionDays < 1 {
		return res, fmt.Errorf("cloud cleanup: retention of %d days is below 1", o.CloudRetentionDays)
	}
	keep := o.CloudKeepNewest
	if keep < 1 {
		keep = options.DefaultCloudKeepNewest
	}

	var all []candidate
	for obj, err := range store.All(ctx, st, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return res, fmt.Errorf("cloud cleanup: %w", err)
		}
		k, err := layout.ParseKey(obj.Key, loc)
		if err != nil || k.Kind != layout.BackupsDir || k.Branch != o.BranchID {
			continue // not ours to judge: never deleted
		}
		all = append(all, candidate{key: obj.Key, taken: k.Dump.Taken})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].taken.After(all[j].taken) }) // newest first

	protected := map[string]bool{}
	for _, c := range all {
		if len(res.KeptNewest) == keep {
			break
		}
		info, err := st.Stat(ctx, c.key)
		if err != nil {
			if store.IsNotFound(err) {
				continue
			}
			return res, fmt.Errorf("cloud cleanup: %w", err)
		}
		if backup.Confirmed(info) {
			protected[c.key] = true
			res.KeptNewest = append(res.KeptNewest, c.key)
		}
	}
	if len(res.KeptNewest) < keep {
		log.Warn("fewer good backups in the bucket than are always kept", "good", len(res.KeptNewest), "keep_newest", keep)
	}

	cutoff := now.In(loc).AddDate(0, 0, -o.CloudRetentionDays)
	var errs []error
	for _, c := range all {
		if protected[c.key] || !c.taken.Before(cutoff) {
			res.Kept++
			continue
		}
		if err := st.Delete(ctx, c.key); err != nil {
			errs = append(errs, err)
			res.Kept++
			if ctx.Err() != nil {
				break
			}
			continue
		}
		res.Deleted++
		res.DeletedKeys = append(res.DeletedKeys, c.key)
		log.Info("deleted an old cloud backup", "key", c.key, "taken", c.taken.Format(time.RFC3339), "retention_days", o.CloudRetentionDays)
	}
	if ctx.Err() == nil {
		n, err := backup.AbortUnfinished(ctx, st, prefix, UnfinishedUploadAge)
		res.AbortedUploads = n
		if err != nil {
			log.Warn("could not abort unfinished uploads", "prefix", prefix, "error", err)
		}
	}
	log.Info("cloud cleanup done", "deleted", res.Deleted, "kept", res.Kept, "kept_newest", len(res.KeptNewest))
	if len(errs) > 0 {
		return res, fmt.Errorf("cloud cleanup: %d of %d deletions failed: %w", len(errs), len(errs)+res.Deleted, errors.Join(errs...))
	}
	return res, nil
}
