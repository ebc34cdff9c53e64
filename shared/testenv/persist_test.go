package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/store/storetest"
)

func TestPersistentBackendConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		b, err := OpenPersistentBackend(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return StartS3(t, WithBackend(b)).Store(t)
	})
}

func TestPersistentBackendOutlivesTheServer(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	data := bytes.Repeat([]byte("branchwatch "), 2<<20) // 24 MiB: a multipart upload
	want := sha256.Sum256(data)

	b, err := OpenPersistentBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPersistentBackend(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open of one directory: %v, want ErrInUse", err)
	}
	srv := StartS3(t, WithBackend(b))
	s := srv.Store(t)
	if _, err := s.Put(ctx, "a/backups/a_20260101_220000.dump", bytes.NewReader(data), store.PutOptions{Size: -1, Metadata: map[string]string{"sha256": "x1"}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/metrics/2026-01-01.json", "a/metrics/2026-01-02.json"} {
		if _, err := s.Put(ctx, k, bytes.NewReader([]byte(`{}`)), store.PutOptions{Size: 2, ContentType: "application/json"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "a/metrics/2026-01-02.json"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	b.Close()

	b2, err := OpenPersistentBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	s2 := StartS3(t, WithBackend(b2)).Store(t)
	rc, info, err := s2.Get(ctx, "a/backups/a_20260101_220000.dump")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if sha256.Sum256(got) != want || info.Metadata["sha256"] != "x1" {
		t.Fatalf("after a restart: %d bytes (sha256 equal %v), metadata %v", len(got), sha256.Sum256(got) == want, info.Metadata)
	}
	page, err := s2.List(ctx, store.ListOptions{Prefix: "a/metrics/"})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "a/metrics/2026-01-01.json" {
		t.Fatalf("metrics after a restart: %+v %v (the deleted one must stay deleted)", page.Objects, err)
	}
}
