package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// ErrInUse is returned by OpenPersistentBackend when another process
// already serves the directory.
var ErrInUse = errors.New("in use by another process")

// PersistentBackend is gofakes3's in-memory backend written through to a
// directory, so that a standalone server's bucket outlives it (the demo).
// Every object is a data file and a JSON sidecar; they are read back at
// start. (gofakes3's bolt backend hands out slices of bolt's memory map
// after the transaction ends and crashes when the map grows, and its fs
// backend does not paginate: this one has neither problem.)
type PersistentBackend struct {
	*s3mem.Backend
	dir  string
	lock *os.File
	mu   sync.Mutex // orders the files of concurrent writes to one key
}

type persistedMeta struct {
	Bucket string            `json:"bucket"`
	Key    string            `json:"key"`
	Meta   map[string]string `json:"meta"`
}

// OpenPersistentBackend loads every object stored under dir and returns the
// backend; Close releases the directory.
func OpenPersistentBackend(dir string) (*PersistentBackend, error) {
	objDir := filepath.Join(dir, "objects")
	if err := os.MkdirAll(objDir, 0o750); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s is %w", dir, ErrInUse)
	}
	b := &PersistentBackend{Backend: s3mem.New(), dir: objDir, lock: lock}
	entries, err := os.ReadDir(objDir)
	if err != nil {
		b.Close()
		return nil, err
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".meta")
		if !ok {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(objDir, e.Name()))
		if err != nil {
			continue
		}
		var m persistedMeta
		data, derr := os.ReadFile(filepath.Join(objDir, name+".obj"))
		if json.Unmarshal(raw, &m) != nil || derr != nil {
			continue // a half-written pair from a crash: its object never finished
		}
		if ok, _ := b.Backend.BucketExists(m.Bucket); !ok {
			if err := b.Backend.CreateBucket(m.Bucket); err != nil {
				b.Close()
				return nil, err
			}
		}
		if _, err := b.Backend.PutObject(m.Bucket, m.Key, m.Meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			b.Close()
			return nil, fmt.Errorf("load %s/%s: %w", m.Bucket, m.Key, err)
		}
	}
	return b, nil
}

// Close releases the directory. Every write is already on disk.
func (b *PersistentBackend) Close() error {
	if b.lock == nil {
		return nil
	}
	err := b.lock.Close()
	b.lock = nil
	return err
}

func (b *PersistentBackend) base(bucket, key string) string {
	return filepath.Join(b.dir, url.PathEscape(bucket+"/"+key))
}

func (b *PersistentBackend) save(bucket, key string, meta map[string]string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	base := b.base(bucket, key)
	raw, err := json.Marshal(persistedMeta{Bucket: bucket, Key: key, Meta: meta})
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{base + ".obj", data}, {base + ".meta", raw}} {
		if err := os.WriteFile(f.path+".tmp", f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			return err
		}
	}
	return nil
}

func (b *PersistentBackend) remove(bucket, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	base := b.base(bucket, key)
	_ = os.Remove(base + ".meta")
	_ = os.Remove(base + ".obj")
}

// PutObject stores in memory, then on disk.
func (b *PersistentBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	data, err := io.ReadAll(input)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	res, err := b.Backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), cond)
	if err != nil {
		return res, err
	}
	return res, b.save(bucket, key, meta, data)
}

// DeleteObject deletes in memory and on disk.
func (b *PersistentBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	res, err := b.Backend.DeleteObject(bucket, key)
	if err == nil {
		b.remove(bucket, key)
	}
	return res, err
}

// DeleteMulti deletes in memory and on disk.
func (b *PersistentBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	res, err := b.Backend.DeleteMulti(bucket, keys...)
	if err == nil {
		for _, d := range res.Deleted {
			b.remove(bucket, d.Key)
		}
	}
	return res, err
}

// CopyObject copies in memory, then saves the copy.
func (b *PersistentBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	res, err := b.Backend.CopyObject(srcBucket, srcKey, dstBucket, dstKey, meta)
	if err != nil {
		return res, err
	}
	obj, err := b.Backend.GetObject(dstBucket, dstKey, nil)
	if err != nil {
		return res, err
	}
	defer obj.Contents.Close()
	data, err := io.ReadAll(obj.Contents)
	if err != nil {
		return res, err
	}
	return res, b.save(dstBucket, dstKey, obj.Metadata, data)
}
