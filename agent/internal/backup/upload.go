package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"filippo.io/age"

	"github.com/branchwatch/branchwatch/agent/internal/ledger"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Metadata keys of an uploaded dump (lower-case, as S3 returns them).
const (
	MetaSHA256          = "sha256"       // of the object as stored, lower-case hex
	MetaSize            = "size"         // of the object as stored, bytes
	MetaPlainSHA256     = "plain-sha256" // of the decrypted dump (encrypted objects)
	MetaPlainSize       = "plain-size"   // of the decrypted dump (encrypted objects)
	MetaEncryption      = "encryption"   // "age" for encrypted objects
	MetaPGServerVersion = "pg-server-version"
	MetaPGDumpVersion   = "pg-dump-version"
	MetaAgentVersion    = "agent-version"
	MetaBranch          = "branch"
)

// ContentType of uploaded dumps.
const (
	ContentTypeDump = "application/vnd.postgresql.custom-dump"
	ContentTypeAge  = "application/age-encrypted"
)

// ErrChecksumMismatch is wrapped when bytes do not match their recorded SHA-256.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// Confirmed reports whether a stored object is a confirmed backup: its
// metadata carries a well-formed SHA-256 and a size equal to the object's.
func Confirmed(info store.ObjectInfo) bool {
	size, err := strconv.ParseInt(info.Metadata[MetaSize], 10, 64)
	return err == nil && size == info.Size && IsSHA256(info.Metadata[MetaSHA256])
}

// upload puts a local dump under its key (encrypted when configured) and
// confirms it by reading back size and checksum. It hashes the file again
// while sending it, so a dump that changed on disk since it was checked is
// never left in the bucket as good.
func (r *Runner) upload(ctx context.Context, d LocalDump) (store.ObjectInfo, error) {
	enc := r.opts.Encrypted()
	key, err := layout.BackupKey(r.opts.BranchID, d.Taken, enc)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: %w", err)
	}
	if filepath.Base(key) != d.Name && filepath.Base(key) != d.Name+".age" {
		return store.ObjectInfo{}, fmt.Errorf("backup: key %s does not match dump %s", key, d.Name)
	}
	want, err := d.Checksum()
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: checksum of %s: %w", d.Path, err)
	}
	meta := map[string]string{
		MetaBranch:       r.opts.BranchID,
		MetaAgentVersion: AgentVersion,
	}
	if r.Instance != "" {
		meta[instance.MetadataKey] = r.Instance
	}
	if d.ServerVersion != 0 {
		meta[MetaPGServerVersion] = d.ServerVersion.String()
	}
	if d.DumpVersion != 0 {
		meta[MetaPGDumpVersion] = d.DumpVersion.String()
	}
	var info store.ObjectInfo
	began := time.Now()
	if enc {
		info, err = r.putEncrypted(ctx, key, d, want, meta)
	} else {
		info, err = r.putPlain(ctx, key, d, want, meta)
	}
	if err != nil {
		return store.ObjectInfo{}, err
	}
	if err := ledger.Record(r.opts.BackupDir, ledger.Entry{Key: key, SHA256: info.Metadata[MetaSHA256], Size: info.Size, Uploaded: r.Now().UTC()}); err != nil {
		// The upload is good; without its entry cloud retention only keeps more.
		r.log.Warn("could not record the confirmed upload", "key", key, "error", err)
	}
	r.log.Info("upload confirmed", "key", key, "size", info.Size, "sha256", info.Metadata[MetaSHA256], "encrypted", enc,
		"duration", time.Since(began).String())
	return info, nil
}

func (r *Runner) putPlain(ctx context.Context, key string, d LocalDump, want string, meta map[string]string) (store.ObjectInfo, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: upload %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: upload %s: %w", key, err)
	}
	meta[MetaSHA256], meta[MetaSize] = want, strconv.FormatInt(fi.Size(), 10)
	h := sha256.New()
	if _, err := r.st.Put(ctx, key, io.TeeReader(f, h), r.putOptions(fi.Size(), ContentTypeDump, meta)); err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: upload: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		r.discard(ctx, key)
		return store.ObjectInfo{}, fmt.Errorf("backup: upload %s: %w: %s now hashes to %s, recorded %s", key, ErrChecksumMismatch, d.Path, got, want)
	}
	return r.confirm(ctx, key, fi.Size(), want)
}

// putEncrypted encrypts the dump to a temporary file (its checksum must be
// known before the upload starts, to go in the metadata), then uploads that.
func (r *Runner) putEncrypted(ctx context.Context, key string, d LocalDump, want string, meta map[string]string) (store.ObjectInfo, error) {
	src, err := os.Open(d.Path)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: encrypt %s: %w", d.Path, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(r.opts.BackupDir, tempPrefix+d.Name+".*.age")
	if err != nil {
		return store.ObjectInfo{}, r.writeError("encrypt", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	plainHash, encHash := sha256.New(), sha256.New()
	w, err := age.Encrypt(io.MultiWriter(tmp, encHash), r.opts.EncryptionRecipients...)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: encrypt %s: %w", d.Path, err)
	}
	plainSize, err := io.CopyBuffer(w, store.ContextReader(ctx, io.TeeReader(src, plainHash)), make([]byte, 1<<20))
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return store.ObjectInfo{}, r.writeError("encrypt", err)
	}
	if got := hex.EncodeToString(plainHash.Sum(nil)); got != want {
		return store.ObjectInfo{}, fmt.Errorf("backup: encrypt %s: %w: it hashes to %s, recorded %s", d.Path, ErrChecksumMismatch, got, want)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: encrypt %s: %w", d.Path, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: encrypt %s: %w", d.Path, err)
	}
	sum := hex.EncodeToString(encHash.Sum(nil))
	meta[MetaSHA256], meta[MetaSize] = sum, strconv.FormatInt(size, 10)
	meta[MetaPlainSHA256], meta[MetaPlainSize] = want, strconv.FormatInt(plainSize, 10)
	meta[MetaEncryption] = "age"
	if _, err := r.st.Put(ctx, key, tmp, r.putOptions(size, ContentTypeAge, meta)); err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: upload: %w", err)
	}
	return r.confirm(ctx, key, size, sum)
}

// putOptions are a dump upload's: with BACKUP_S3_OBJECT_LOCK_DAYS, locked
// for that many days from now.
func (r *Runner) putOptions(size int64, ctype string, meta map[string]string) store.PutOptions {
	return store.PutOptions{Size: size, ContentType: ctype, Metadata: meta,
		RetainUntil: r.opts.ObjectLockUntil(r.Now()), LockMode: r.opts.ObjectLockMode}
}

// confirm reads the object's size and checksum back.
func (r *Runner) confirm(ctx context.Context, key string, size int64, sum string) (store.ObjectInfo, error) {
	info, err := r.st.Stat(ctx, key)
	if err != nil {
		return store.ObjectInfo{}, fmt.Errorf("backup: confirm upload: %w", err)
	}
	if info.Size != size || info.Metadata[MetaSHA256] != sum || !Confirmed(info) {
		return store.ObjectInfo{}, fmt.Errorf("backup: confirm upload %s: %w: stored %d bytes with sha256 %q, sent %d bytes with sha256 %s",
			key, ErrChecksumMismatch, info.Size, info.Metadata[MetaSHA256], size, sum)
	}
	return info, nil
}

// discard removes an object that must not pass for a good backup. With
// BACKUP_CLOUD_RETENTION=bucket the agent deletes nothing: the object stays,
// unrecorded, so retention never counts it and restore checks its bytes.
func (r *Runner) discard(ctx context.Context, key string) {
	if r.opts.CloudRetention == options.CloudRetentionBucket {
		r.log.Error("a bad upload stays in the bucket (BACKUP_CLOUD_RETENTION=bucket: the agent never deletes); it is not recorded as a backup", "key", key)
		return
	}
	if err := r.st.Delete(context.WithoutCancel(ctx), key); err != nil {
		r.log.Error("could not delete a bad upload", "key", key, "error", err)
	}
}
