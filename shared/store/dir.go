package store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// metaDir holds one JSON sidecar per object, outside the mirrored layout.
const metaDir = ".meta"

// Dir is a Store over a local directory that mirrors the bucket layout:
// the object "a/metrics/2026-01-01.json" is the file root/a/metrics/2026-01-01.json.
// Metadata lives in sidecar files under root/.meta/. Files placed by hand
// (a copy of the bucket) are listed and read like any other object.
type Dir struct {
	root string
}

var _ Store = (*Dir)(nil)

// NewDir returns a Store rooted at dir, creating it if needed.
func NewDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("directory store: empty path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("directory store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("directory store %s: %w", dir, err)
	}
	return &Dir{root: abs}, nil
}

// Root is the directory the store is rooted at.
func (d *Dir) Root() string { return d.root }

type dirMeta struct {
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ETag        string            `json:"etag"`
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }
func (d *Dir) mpath(key string) string {
	return filepath.Join(d.root, metaDir, filepath.FromSlash(key)+".json")
}

// Put writes to a temporary file, fsyncs it and renames it into place.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := validateMetadata(opts.Metadata); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), &ctxReader{ctx: ctx, r: r})
	if err == nil && opts.Size >= 0 && n != opts.Size {
		err = fmt.Errorf("stream was %d bytes, expected %d", n, opts.Size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	m := dirMeta{ContentType: opts.ContentType, Metadata: lowerKeys(opts.Metadata), ETag: hex.EncodeToString(h.Sum(nil))}
	if err := writeMeta(d.mpath(key), m); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	syncDir(filepath.Dir(p))
	return d.Stat(ctx, key)
}

func writeMeta(p string, m dirMeta) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
}

// Get opens the file.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	info, err := d.Stat(ctx, key)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, errors.Unwrap(err))
	}
	f, err := os.Open(d.path(key))
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, mapNotExist(err))
	}
	return f, info, nil
}

// Stat reads the file's size and its sidecar.
func (d *Dir) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(d.path(key))
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, mapNotExist(err))
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	info := fileInfo(key, fi)
	if b, err := os.ReadFile(d.mpath(key)); err == nil {
		var m dirMeta
		if json.Unmarshal(b, &m) == nil {
			info.ContentType, info.Metadata = m.ContentType, m.Metadata
			info.ETag = m.ETag
		}
	}
	if info.Metadata == nil {
		info.Metadata = map[string]string{}
	}
	return info, nil
}

func fileInfo(key string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{
		Key:          key,
		Size:         fi.Size(),
		LastModified: fi.ModTime().UTC(),
		// A file placed by hand has no sidecar: size and mtime stand in.
		ETag: strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16),
	}
}

// List walks the directory below the prefix's folder and returns keys in
// lexical order, page by page; NextToken is the last key returned.
func (d *Dir) List(ctx context.Context, opts ListOptions) (Page, error) {
	max := opts.MaxKeys
	if max <= 0 || max > 1000 {
		max = 1000
	}
	// Walk only the deepest folder that the prefix names in full.
	base := ""
	if i := strings.LastIndex(opts.Prefix, "/"); i >= 0 {
		base = opts.Prefix[:i]
	}
	start := filepath.Join(d.root, filepath.FromSlash(base))
	var keys []string
	infos := map[string]fs.FileInfo{}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != start {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, opts.Prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil // vanished meanwhile
		}
		keys = append(keys, key)
		infos[key] = fi
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("%s: %w", opOn("list", opts.Prefix), err)
	}
	sort.Strings(keys)
	after := opts.Token
	if after == "" {
		after = opts.StartAfter
	}
	var page Page
	seen := map[string]bool{}
	count := 0
	for _, key := range keys {
		if key <= after {
			continue
		}
		if opts.Delimiter != "" {
			rest := key[len(opts.Prefix):]
			if i := strings.Index(rest, opts.Delimiter); i >= 0 {
				cp := opts.Prefix + rest[:i+len(opts.Delimiter)]
				if seen[cp] || cp <= after {
					continue
				}
				if count == max {
					page.NextToken = lastToken(page)
					return page, nil
				}
				seen[cp] = true
				page.CommonPrefixes = append(page.CommonPrefixes, cp)
				count++
				continue
			}
		}
		if count == max {
			page.NextToken = lastToken(page)
			return page, nil
		}
		info := fileInfo(key, infos[key])
		if b, err := os.ReadFile(d.mpath(key)); err == nil {
			var m dirMeta
			if json.Unmarshal(b, &m) == nil && m.ETag != "" {
				info.ETag = m.ETag
			}
		}
		page.Objects = append(page.Objects, info)
		count++
	}
	return page, nil
}

// lastToken is the greatest key or prefix on the page: the next page starts
// after it (a common prefix's token skips every key under it).
func lastToken(p Page) string {
	t := ""
	if n := len(p.Objects); n > 0 {
		t = p.Objects[n-1].Key
	}
	if n := len(p.CommonPrefixes); n > 0 {
		cp := p.CommonPrefixes[n-1] + "\xff"
		if cp > t {
			t = cp
		}
	}
	return t
}

// Delete removes the file and its sidecar.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(d.mpath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func mapNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

func lowerKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// ContextReader stops a copy when its context is cancelled.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx: ctx, r: r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
