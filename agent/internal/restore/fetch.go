package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Where a restored dump came from.
const (
	OriginBucket    = "bucket"     // downloaded
	OriginLocalCopy = "local copy" // the identical local dump of a bucket object
	OriginLocal     = "local"      // local-only mode
)

// ErrNoBackup is wrapped when no (good) backup matches the request.
var ErrNoBackup = errors.New("no backup found")

// source is the chosen backup before it is fetched.
type source struct {
	key   string           // bucket key; "" in local-only mode
	name  string           // plain dump file name
	info  store.ObjectInfo // bucket object, from Stat
	local *backup.LocalDump
}

// fetched is a dump on local disk whose checksum was verified.
type fetched struct {
	path, key, name, origin string
	size                    int64
	sha256                  string // of the plain dump
	dumpVersion             pgtools.Version
	cleanup                 func()
}

// choose picks the backup: key (a bucket key or a dump name) when given,
// else the newest good one of the branch. With a store the bucket is the
// reference; without one, BACKUP_DIR.
func choose(ctx context.Context, o options.Options, st store.Store, key string) (source, error) {
	if st == nil {
		return chooseLocal(o, key)
	}
	prefix, err := layout.BackupsPrefix(o.BranchID)
	if err != nil {
		return source{}, err
	}
	if key != "" {
		if !strings.Contains(key, "/") {
			// A bare dump name: under the prefix of the branch it names
			// (Run has refused another branch's unless asked for).
			if b := dumpBranch(key); b != "" {
				prefix, err = layout.BackupsPrefix(b)
				if err != nil {
					return source{}, err
				}
			}
			key = prefix + key
		}
		k, err := layout.ParseKey(key, o.Location)
		if err != nil || k.Kind != layout.BackupsDir {
			return source{}, fmt.Errorf("%q is not a backup key ({branch}/backups/{branch}_{YYYYMMDD}_{HHMMSS}.dump[.age])", key)
		}
		info, err := st.Stat(ctx, key)
		if store.IsNotFound(err) && !k.Dump.Encrypted {
			// The plain name of a dump that went up encrypted.
			if ei, eerr := st.Stat(ctx, key+".age"); eerr == nil {
				key, info, err = key+".age", ei, nil
			}
		}
		if err != nil {
			if store.IsNotFound(err) {
				return source{}, fmt.Errorf("%w: %s is not in the bucket", ErrNoBackup, key)
			}
			return source{}, err
		}
		if !backup.Confirmed(info) {
			return source{}, fmt.Errorf("%w: %s has no size and checksum metadata: it is not a confirmed backup", ErrNoBackup, key)
		}
		return source{key: key, name: plainName(key), info: info}, nil
	}
	for src, err := range latest(ctx, o, st) {
		return src, err
	}
	return source{}, fmt.Errorf("%w: no confirmed backup under %s in the bucket", ErrNoBackup, prefix)
}

// latest yields the branch's backups, newest first: with a store, the
// bucket's confirmed ones (each Stat only when reached); without one, the
// dumps in BACKUP_DIR. It stops at the first error, which it yields.
func latest(ctx context.Context, o options.Options, st store.Store) iter.Seq2[source, error] {
	return func(yield func(source, error) bool) {
		if st == nil {
			dumps, err := backup.ListLocal(o.BackupDir, o.BranchID, o.Location)
			if err != nil {
				yield(source{}, err)
				return
			}
			for i := len(dumps) - 1; i >= 0; i-- {
				if !yield(source{name: dumps[i].Name, local: &dumps[i]}, nil) {
					return
				}
			}
			return
		}
		prefix, err := layout.BackupsPrefix(o.BranchID)
		if err != nil {
			yield(source{}, err)
			return
		}
		type cand struct {
			key   string
			taken time.Time
		}
		var cands []cand
		for obj, err := range store.All(ctx, st, store.ListOptions{Prefix: prefix}) {
			if err != nil {
				yield(source{}, err)
				return
			}
			k, err := layout.ParseKey(obj.Key, o.Location)
			if err == nil && k.Kind == layout.BackupsDir && k.Branch == o.BranchID {
				cands = append(cands, cand{obj.Key, k.Dump.Taken})
			}
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].taken.After(cands[j].taken) })
		for _, c := range cands {
			info, err := st.Stat(ctx, c.key)
			if err != nil {
				if store.IsNotFound(err) {
					continue
				}
				yield(source{}, err)
				return
			}
			if backup.Confirmed(info) && !yield(source{key: c.key, name: plainName(c.key), info: info}, nil) {
				return
			}
		}
	}
}

func chooseLocal(o options.Options, key string) (source, error) {
	dumps, err := backup.ListLocal(o.BackupDir, o.BranchID, o.Location)
	if err != nil {
		return source{}, err
	}
	if len(dumps) == 0 {
		return source{}, fmt.Errorf("%w: no dumps of branch %s in %s (local-only mode: no S3 settings)", ErrNoBackup, o.BranchID, o.BackupDir)
	}
	if key == "" {
		d := dumps[len(dumps)-1]
		return source{name: d.Name, local: &d}, nil
	}
	name := plainName(path.Base(key))
	for _, d := range dumps {
		if d.Name == name {
			return source{name: d.Name, local: &d}, nil
		}
	}
	return source{}, fmt.Errorf("%w: %s is not in %s (local-only mode: no S3 settings)", ErrNoBackup, name, o.BackupDir)
}

func plainName(key string) string {
	return strings.TrimSuffix(path.Base(key), ".age")
}

// fetcher fetches a chosen backup into a verified local file.
type fetcher struct {
	o          options.Options
	st         store.Store
	identities []age.Identity
	workDir    string
	progress   io.Writer
	log        *slog.Logger
	// cloudOnly downloads the bucket's copy even when an identical local
	// dump exists: a drill proves the bucket's bytes.
	cloudOnly bool
}

func (f *fetcher) fetch(ctx context.Context, src source) (fetched, error) {
	if src.local != nil {
		sum, size, err := backup.HashFile(src.local.Path)
		if err != nil {
			return fetched{}, fmt.Errorf("read %s: %w", src.local.Path, err)
		}
		if src.local.SHA256 != "" && src.local.SHA256 != sum {
			return fetched{}, fmt.Errorf("%s: %w: it hashes to %s, its checksum file says %s", src.local.Path, backup.ErrChecksumMismatch, sum, src.local.SHA256)
		}
		return fetched{path: src.local.Path, name: src.name, origin: OriginLocal, size: size, sha256: sum, cleanup: func() {}}, nil
	}
	meta := src.info.Metadata
	encrypted := meta[backup.MetaEncryption] == "age" || strings.HasSuffix(src.key, layout.EncryptedDumpExt)
	plainSHA, plainSize := meta[backup.MetaSHA256], src.info.Size
	if encrypted {
		plainSHA = meta[backup.MetaPlainSHA256]
		plainSize, _ = strconv.ParseInt(meta[backup.MetaPlainSize], 10, 64)
	}
	dumpVersion, _ := pgtools.ParseVersion(meta[backup.MetaPGDumpVersion])
	out := fetched{key: src.key, name: src.name, dumpVersion: dumpVersion, cleanup: func() {}}
	if p, ok := f.identicalLocal(src.name, plainSHA, plainSize); ok && !f.cloudOnly {
		f.log.Info("using the identical local copy instead of downloading", "key", src.key, "file", p)
		out.path, out.origin, out.size, out.sha256 = p, OriginLocalCopy, plainSize, plainSHA
		return out, nil
	}
	if encrypted && len(f.identities) == 0 {
		return fetched{}, fmt.Errorf("%s is age-encrypted: pass --identity FILE (or set VERIFY_IDENTITY_FILE) with a key of one of its recipients", src.key)
	}
	removeStaleWork(f.workDir, f.log)
	dir, err := os.MkdirTemp(f.workDir, workPrefix)
	if err != nil {
		return fetched{}, fmt.Errorf("work directory: %w", err)
	}
	out.cleanup = func() { _ = os.RemoveAll(dir) }
	out.origin, out.sha256, out.size = OriginBucket, src.info.Metadata[backup.MetaSHA256], src.info.Size
	out.path, err = f.download(ctx, src, filepath.Join(dir, path.Base(src.key)))
	if err == nil && encrypted {
		out.path, out.sha256, out.size, err = f.decrypt(out.path, filepath.Join(dir, src.name), plainSHA)
	}
	if err != nil {
		out.cleanup()
		return fetched{}, err
	}
	return out, nil
}

// identicalLocal finds BACKUP_DIR/name when its content is the plain dump
// with the given checksum (checked by hashing it, not only by its sidecar).
func (f *fetcher) identicalLocal(name, sum string, size int64) (string, bool) {
	if !backup.IsSHA256(sum) {
		return "", false
	}
	p := filepath.Join(f.o.BackupDir, name)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return "", false
	}
	if side, err := backup.ReadChecksum(p); err == nil && side != sum {
		return "", false
	}
	got, _, err := backup.HashFile(p)
	return p, err == nil && got == sum
}

// download writes the object to file, checking size and SHA-256 against
// the object's metadata.
func (f *fetcher) download(ctx context.Context, src source, file string) (string, error) {
	rc, info, err := f.st.Get(ctx, src.key)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	defer rc.Close()
	out, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", src.key, err)
	}
	defer out.Close()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(out, h)
	var bar *progressBar
	if f.progress != nil {
		bar = newProgressBar(f.progress, "downloading "+path.Base(src.key), info.Size)
		w = io.MultiWriter(w, bar)
	}
	n, err := io.CopyBuffer(w, rc, make([]byte, 1<<20))
	bar.finish(err == nil)
	if err == nil {
		err = out.Close()
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", src.key, err)
	}
	want := src.info.Metadata[backup.MetaSHA256]
	if got := hex.EncodeToString(h.Sum(nil)); got != want || n != src.info.Size {
		return "", fmt.Errorf("download %s: %w: got %d bytes with sha256 %s, the metadata says %d bytes with sha256 %s: not restoring",
			src.key, backup.ErrChecksumMismatch, n, got, src.info.Size, want)
	}
	return file, nil
}

// decrypt writes the plain dump beside the encrypted one, removes that, and
// returns the plain dump's path, SHA-256 and size.
func (f *fetcher) decrypt(encrypted, plain, wantSHA string) (string, string, int64, error) {
	fail := func(err error) (string, string, int64, error) {
		return "", "", 0, fmt.Errorf("decrypt %s: %w", filepath.Base(encrypted), err)
	}
	in, err := os.Open(encrypted)
	if err != nil {
		return fail(err)
	}
	defer os.Remove(encrypted)
	defer in.Close()
	r, err := age.Decrypt(in, f.identities...)
	if err != nil {
		return fail(err)
	}
	out, err := os.OpenFile(plain, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fail(err)
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(out, h), r, make([]byte, 1<<20))
	if err == nil {
		err = out.Close()
	}
	if err != nil {
		return fail(err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if backup.IsSHA256(wantSHA) && got != wantSHA {
		return fail(fmt.Errorf("%w: the plain dump hashes to %s, the metadata says %s", backup.ErrChecksumMismatch, got, wantSHA))
	}
	return plain, got, n, nil
}

// workPrefix names the download directories of restores.
const workPrefix = ".restore-"

// removeStaleWork removes download directories of restores that were killed
// (older than a day: a restore running now is younger).
func removeStaleWork(dir string, log *slog.Logger) {
	matches, _ := filepath.Glob(filepath.Join(dir, workPrefix+"*"))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			if os.RemoveAll(m) == nil {
				log.Info("removed the download directory of an interrupted restore", "dir", m)
			}
		}
	}
}

// workDir is where downloads go: dir if given, else BACKUP_DIR when it
// exists, else the system's temporary directory.
func workDir(dir string, o options.Options) string {
	if dir != "" {
		return dir
	}
	if fi, err := os.Stat(o.BackupDir); err == nil && fi.IsDir() {
		return o.BackupDir
	}
	return os.TempDir()
}
