// Package cloudclean is the cloud retention sweep (the seed's
// _weekly_cloud_cleanup): it deletes this branch's old backups from the
// bucket, always keeping the newest good ones, or, when the bucket's
// lifecycle rule applies retention, reports what that rule removes.
package cloudclean

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/ledger"
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
	// Expiring, with BACKUP_CLOUD_RETENTION=bucket, are the keys the agent
	// would have deleted: the bucket's lifecycle rule removes them (the
	// agent deletes nothing).
	Expiring []string
	// ExpiringNewest, with BACKUP_CLOUD_RETENTION=bucket, are newest good
	// backups past retention: the lifecycle rule removes them all the same
	// (it counts days, not backups), so the branch is about to lose them.
	ExpiringNewest []string
	// Unknown are this branch's dump keys the agent has no record of
	// uploading and confirming (or whose size or checksum no longer match
	// the record): never counted as good, never deleted.
	Unknown []string
	// AbortedUploads counts unfinished multipart uploads aborted.
	AbortedUploads int
}

type candidate struct {
	key   string
	size  int64
	taken time.Time
	known bool // in the upload record with the listed size
}

// Run deletes backups taken more than o.CloudRetentionDays before now,
// never the o.CloudKeepNewest newest good ones. Only dumps this agent
// uploaded and confirmed (the upload record in BACKUP_DIR, package ledger)
// are judged: a good one is recorded and its stored size and checksum
// still match the record; any other object under the prefix, however
// plausible its name and metadata, is unknown, never counted and never
// deleted. With BACKUP_CLOUD_RETENTION=bucket nothing is deleted: the same
// selection is reported as Expiring. Each object goes with a single
// DeleteObject call (the batch call needs a checksum header that B2-style
// servers require and the SDK no longer sends by default). A failed delete
// does not stop the others; the error lists them.
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
	record, err := ledger.Load(o.BackupDir)
	if err != nil {
		return res, fmt.Errorf("cloud cleanup: %w", err)
	}

	var all []candidate
	listed := map[string]bool{}
	for obj, err := range store.All(ctx, st, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return res, fmt.Errorf("cloud cleanup: %w", err)
		}
		listed[obj.Key] = true
		k, err := layout.ParseKey(obj.Key, loc)
		if err != nil || k.Kind != layout.BackupsDir || k.Branch != o.BranchID {
			continue // not ours to judge: never deleted
		}
		e, ok := record.Lookup(obj.Key)
		c := candidate{key: obj.Key, size: obj.Size, taken: k.Dump.Taken, known: ok && e.Size == obj.Size}
		if !c.known {
			res.Unknown = append(res.Unknown, obj.Key)
		}
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].taken.After(all[j].taken) }) // newest first
	if len(res.Unknown) > 0 {
		log.Warn("backups in the bucket that this agent has no record of uploading: not counted as good, never deleted",
			"count", len(res.Unknown), "keys", res.Unknown, "record", o.BackupDir+"/"+ledger.FileName)
	}

	protected, err := newestGood(ctx, st, all, record, keep)
	if err != nil {
		return res, fmt.Errorf("cloud cleanup: %w", err)
	}
	res.KeptNewest = protected
	if len(res.KeptNewest) < keep {
		log.Warn("fewer good backups in the bucket than are always kept", "good", len(res.KeptNewest), "keep_newest", keep)
	}

	byLifecycle := o.CloudRetention == options.CloudRetentionBucket
	cutoff := now.In(loc).AddDate(0, 0, -o.CloudRetentionDays)
	var errs []error
	for _, c := range all {
		if byLifecycle && slices.Contains(protected, c.key) && c.taken.Before(cutoff) {
			res.ExpiringNewest = append(res.ExpiringNewest, c.key)
			log.Warn("the bucket's lifecycle rule will remove one of the newest good backups: this branch has not backed up for longer than the retention",
				"key", c.key, "taken", c.taken.Format(time.RFC3339), "retention_days", o.CloudRetentionDays)
		}
		if !c.known || slices.Contains(protected, c.key) || !c.taken.Before(cutoff) {
			res.Kept++
			continue
		}
		if byLifecycle {
			res.Kept++
			res.Expiring = append(res.Expiring, c.key)
			log.Info("the bucket's lifecycle rule removes this old backup (BACKUP_CLOUD_RETENTION=bucket: the agent deletes nothing)",
				"key", c.key, "taken", c.taken.Format(time.RFC3339), "retention_days", o.CloudRetentionDays)
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
		// Its manifest goes with it (a dump of an older agent has none:
		// deleting a missing key is no error).
		if mk, err := layout.ManifestKey(c.key); err == nil {
			if err := st.Delete(ctx, mk); err != nil && !store.IsNotFound(err) {
				log.Warn("could not delete the manifest of a deleted backup", "key", mk, "error", err)
			}
		}
		log.Info("deleted an old cloud backup", "key", c.key, "taken", c.taken.Format(time.RFC3339), "retention_days", o.CloudRetentionDays)
	}
	forgetGone(o.BackupDir, record, listed, res.DeletedKeys, log)
	if ctx.Err() == nil {
		n, err := backup.AbortUnfinished(ctx, st, prefix, UnfinishedUploadAge)
		res.AbortedUploads = n
		if err != nil {
			log.Warn("could not abort unfinished uploads", "prefix", prefix, "error", err)
		}
	}
	log.Info("cloud cleanup done", "deleted", res.Deleted, "kept", res.Kept, "kept_newest", len(res.KeptNewest),
		"expiring_by_lifecycle", len(res.Expiring), "unknown", len(res.Unknown))
	if len(errs) > 0 {
		return res, fmt.Errorf("cloud cleanup: %d of %d deletions failed: %w", len(errs), len(errs)+res.Deleted, errors.Join(errs...))
	}
	return res, nil
}

// newestGood returns the keys of the keep newest good backups among all
// (newest first): recorded, and stored with the recorded size and SHA-256.
func newestGood(ctx context.Context, st store.Store, all []candidate, record ledger.Ledger, keep int) ([]string, error) {
	var good []string
	for _, c := range all {
		if len(good) == keep {
			break
		}
		if !c.known {
			continue
		}
		info, err := st.Stat(ctx, c.key)
		if err != nil {
			if store.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		e, _ := record.Lookup(c.key)
		if backup.Confirmed(info) && info.Metadata[backup.MetaSHA256] == e.SHA256 && info.Size == e.Size {
			good = append(good, c.key)
		}
	}
	return good, nil
}

// forgetGone drops from the record the keys deleted now and those no
// longer in the bucket (removed by a lifecycle rule or by hand).
func forgetGone(dir string, record ledger.Ledger, listed map[string]bool, deleted []string, log *slog.Logger) {
	gone := slices.Clone(deleted)
	for _, e := range record.Uploads {
		if !listed[e.Key] {
			gone = append(gone, e.Key)
		}
	}
	if err := ledger.Forget(dir, gone); err != nil {
		log.Warn("could not update the upload record", "error", err)
	}
}
