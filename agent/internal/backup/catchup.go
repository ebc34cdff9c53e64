package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"filippo.io/age"

	"github.com/branchwatch/branchwatch/agent/internal/dirlock"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// catchUp uploads the local dumps (other than skip, just uploaded) that are
// missing from the bucket or stored there with another size, each with
// the manifest written beside it at dump time, and the manifest of a dump
// in the bucket without one. One listing of the branch's backups prefix
// tells which: no request per dump. Each is listed with pg_restore first
// (which also gives the versions for the metadata): one that pg_restore
// cannot read is quarantined (renamed *.dump.unreadable), never uploaded.
// A local dump that no longer matches its checksum file is reported and
// skipped, not uploaded.
func (r *Runner) catchUp(ctx context.Context, skip string, pgRestore pgtools.Tool) ([]string, error) {
	dumps, err := ListLocal(r.opts.BackupDir, r.opts.BranchID, r.opts.Location)
	if err != nil {
		return nil, fmt.Errorf("backup: catch-up: %w", err)
	}
	if len(dumps) == 0 || len(dumps) == 1 && dumps[0].Name == skip {
		return nil, nil
	}
	remote := map[string]int64{}
	for o, err := range store.All(ctx, r.st, store.ListOptions{Prefix: r.prefix}) {
		if err != nil {
			return nil, fmt.Errorf("backup: catch-up: %w", err)
		}
		remote[path.Base(o.Key)] = o.Size
	}
	var done []string
	var errs []error
	for _, d := range dumps {
		if d.Name == skip {
			continue
		}
		name, want := d.Name, d.Size
		if r.opts.Encrypted() {
			name += ".age"
			if want, err = EncryptedSize(d.Size, r.opts.EncryptionRecipients); err != nil {
				return done, fmt.Errorf("backup: catch-up: %w", err)
			}
		}
		if got, ok := remote[name]; ok && got == want {
			if _, ok := remote[name+layout.ManifestExt]; !ok {
				// Uploaded, but its manifest was not (a run that failed
				// between the two).
				if err := r.catchUpManifest(ctx, &d, store.ObjectInfo{}); err != nil {
					errs = append(errs, fmt.Errorf("catch-up %s: %w", d.Name, err))
				}
			}
			continue
		}
		toc, err := pgtools.ListArchive(ctx, pgRestore.Path, d.Path)
		if err != nil {
			if ctx.Err() != nil {
				return done, fmt.Errorf("backup: catch-up: %w", err)
			}
			r.quarantine(d, err)
			continue
		}
		d.DumpVersion, d.ServerVersion = toc.DumpVersion, toc.ServerVersion
		r.log.Info("catch-up: uploading a dump missing from the bucket", "dump", d.Path)
		obj, err := r.upload(ctx, d)
		if err != nil {
			if errors.Is(err, ErrChecksumMismatch) {
				r.log.Error("catch-up: local dump no longer matches its checksum: not uploaded", "dump", d.Path, "error", err)
				continue
			}
			errs = append(errs, fmt.Errorf("catch-up %s: %w", d.Name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		done = append(done, d.Name)
		if err := r.catchUpManifest(ctx, &d, obj); err != nil {
			errs = append(errs, fmt.Errorf("catch-up %s: %w", d.Name, err))
		}
	}
	return done, errors.Join(errs...)
}

// catchUpManifest uploads the manifest kept beside the local dump d (the
// counts taken in its snapshot at dump time) for its object in the
// bucket: obj, just uploaded, or when obj.Key is "" the object found
// there, which must be d's bytes. A dump without a local manifest (an
// agent before manifests), or whose manifest is not its own, goes without
// one, said in the log: it is still a backup. The error is the upload's.
func (r *Runner) catchUpManifest(ctx context.Context, d *LocalDump, obj store.ObjectInfo) error {
	if _, err := os.Stat(d.Path + layout.ManifestExt); errors.Is(err, os.ErrNotExist) {
		if obj.Key != "" {
			r.log.Info("catch-up: no manifest beside the dump (taken before manifests): uploaded without one", "dump", d.Path)
		}
		return nil
	}
	if _, err := d.Checksum(); err != nil {
		r.log.Warn("catch-up: the dump's checksum could not be read: its manifest is not uploaded", "dump", d.Path, "error", err)
		return nil
	}
	m, err := readLocalManifest(*d, r.opts.BranchID)
	if err != nil {
		r.log.Warn("catch-up: the manifest beside the dump is not usable: the dump goes without one", "dump", d.Path, "error", err)
		return nil
	}
	if obj.Key == "" {
		key, err := layout.BackupKey(r.opts.BranchID, d.Taken, r.opts.Encrypted())
		if err != nil {
			return err
		}
		if obj, err = r.st.Stat(ctx, key); err != nil {
			return err
		}
		plain := obj.Metadata[MetaSHA256]
		if r.opts.Encrypted() {
			plain = obj.Metadata[MetaPlainSHA256]
		}
		if !Confirmed(obj) || plain != d.SHA256 {
			r.log.Warn("catch-up: the object in the bucket is not this local dump: its manifest is not uploaded", "dump", d.Path, "key", key)
			return nil
		}
	}
	_, err = r.uploadManifest(ctx, m, obj)
	return err
}

// UploadMissing uploads the local dumps missing from the bucket, with
// their manifests (see catchUp), without taking a dump: the daemon's start-up job, so that a dump whose upload a
// crash cut short (kill -9, power cut) reaches the bucket when the agent
// starts again rather than with the next night's backup. It holds the
// backup lock, aborts the killed run's multipart upload and removes its
// temporary files; it needs the database (for the version of pg_restore
// that reads the dumps). Without a bucket it does nothing.
func (r *Runner) UploadMissing(ctx context.Context) ([]string, error) {
	if r.st == nil {
		return nil, nil
	}
	lock, err := dirlock.Acquire(r.opts.BackupDir, LockName, "backup")
	if err != nil {
		return nil, fmt.Errorf("backup: catch-up: %w", err)
	}
	defer lock.Release()
	r.removeStaleTemp()
	local, err := ListLocal(r.opts.BackupDir, r.opts.BranchID, r.opts.Location)
	if err != nil || len(local) == 0 {
		return nil, err // nothing to upload: neither the database nor the bucket is asked
	}
	server, err := pgtools.ServerVersion(ctx, r.opts.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("backup: catch-up: database unreachable: %w", err)
	}
	pgDump, err := r.finder.Find(ctx, "pg_dump", server)
	if err != nil {
		return nil, fmt.Errorf("backup: catch-up: %w", err)
	}
	pgRestore, err := r.findRestore(ctx, pgDump)
	if err != nil {
		return nil, fmt.Errorf("backup: catch-up: %w", err)
	}
	r.abortUnfinished(ctx)
	done, err := r.catchUp(ctx, "", pgRestore)
	if len(done) > 0 {
		r.log.Info("catch-up: uploaded the dumps missing from the bucket", "count", len(done))
	}
	return done, err
}

// EncryptedSize is the size of plain bytes once age-encrypted to
// recipients: a header of fixed size for the given recipients, a 16-byte
// nonce, and a 16-byte tag per 64 KiB chunk (at least one chunk).
func EncryptedSize(plain int64, recipients []age.Recipient) (int64, error) {
	var c countWriter
	w, err := age.Encrypt(&c, recipients...)
	if err != nil {
		return 0, fmt.Errorf("age header: %w", err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("age header: %w", err)
	}
	const chunk, tag = 64 << 10, 16
	chunks := max(1, (plain+chunk-1)/chunk)
	return int64(c) + plain + tag*(chunks-1), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
