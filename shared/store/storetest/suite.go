// Package storetest is the conformance suite every store.Store must pass.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/shared/store"
)

// Run runs the suite against a fresh, empty store from newStore for every case.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("PutGetStat", func(t *testing.T) { testPutGetStat(t, newStore(t)) })
	t.Run("UnknownSizeMultipart", func(t *testing.T) { testUnknownSize(t, newStore(t)) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("ListPages", func(t *testing.T) { testListPages(t, newStore(t)) })
	t.Run("ListDelimiter", func(t *testing.T) { testListDelimiter(t, newStore(t)) })
	t.Run("ListStartAfter", func(t *testing.T) { testListStartAfter(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("BadKeys", func(t *testing.T) { testBadKeys(t, newStore(t)) })
	t.Run("FailedPutLeavesNothing", func(t *testing.T) { testFailedPut(t, newStore(t)) })
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

func readAll(t *testing.T, s store.Store, key string) ([]byte, store.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, info
}

func testPutGetStat(t *testing.T, s store.Store) {
	ctx := context.Background()
	data := randomBytes(100_000, 1)
	meta := map[string]string{"sha256": fmt.Sprintf("%x", sum(data)), "pg-version": "15.18"}
	info, err := s.Put(ctx, "branch-a/backups/branch-a_20260217_220005.dump", bytes.NewReader(data),
		store.PutOptions{Size: int64(len(data)), ContentType: "application/octet-stream", Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.ETag == "" {
		t.Fatalf("put returned %+v", info)
	}
	got, ginfo := readAll(t, s, "branch-a/backups/branch-a_20260217_220005.dump")
	if sum(got) != sum(data) {
		t.Fatalf("sha256 of what came back differs (%d bytes, want %d)", len(got), len(data))
	}
	if ginfo.Metadata["sha256"] != meta["sha256"] || ginfo.Metadata["pg-version"] != "15.18" {
		t.Fatalf("get metadata = %v, want %v", ginfo.Metadata, meta)
	}
	st, err := s.Stat(ctx, "branch-a/backups/branch-a_20260217_220005.dump")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) || st.Metadata["sha256"] != meta["sha256"] || st.ContentType != "application/octet-stream" {
		t.Fatalf("stat = %+v", st)
	}
	if st.ETag != info.ETag {
		t.Fatalf("stat etag %q != put etag %q", st.ETag, info.ETag)
	}
}

// chunkyReader hides the length and returns short reads.
type chunkyReader struct{ r io.Reader }

func (c chunkyReader) Read(p []byte) (int, error) {
	if len(p) > 7777 {
		p = p[:7777]
	}
	return c.r.Read(p)
}

func testUnknownSize(t *testing.T, s store.Store) {
	ctx := context.Background()
	data := randomBytes(21<<20+123, 2) // three parts of 8 MiB, the last short
	_, err := s.Put(ctx, "b/backups/big.bin", chunkyReader{bytes.NewReader(data)},
		store.PutOptions{Size: -1, Metadata: map[string]string{"sha256": fmt.Sprintf("%x", sum(data))}})
	if err != nil {
		t.Fatal(err)
	}
	got, info := readAll(t, s, "b/backups/big.bin")
	if sum(got) != sum(data) || info.Size != int64(len(data)) {
		t.Fatalf("multipart round trip: got %d bytes, want %d; sha256 equal: %v", len(got), len(data), sum(got) == sum(data))
	}
	if info.Metadata["sha256"] != fmt.Sprintf("%x", sum(data)) {
		t.Fatalf("metadata lost on multipart upload: %v", info.Metadata)
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := "b/metrics/2026-02-16.json"
	i1, err := s.Put(ctx, key, strings.NewReader(`{"v":1}`), store.PutOptions{Size: 7, ContentType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	i2, err := s.Put(ctx, key, strings.NewReader(`{"v":22}`), store.PutOptions{Size: 8, ContentType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	if i1.ETag == i2.ETag {
		t.Fatalf("etag did not change on overwrite: %q", i1.ETag)
	}
	got, _ := readAll(t, s, key)
	if string(got) != `{"v":22}` {
		t.Fatalf("got %q after overwrite", got)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Stat(ctx, "nope/metrics/2026-01-01.json"); !store.IsNotFound(err) {
		t.Fatalf("stat missing: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, "nope/metrics/2026-01-01.json"); !store.IsNotFound(err) {
		t.Fatalf("get missing: err = %v, want ErrNotFound", err)
	}
	page, err := s.List(ctx, store.ListOptions{Prefix: "nope/"})
	if err != nil || len(page.Objects) != 0 || page.NextToken != "" {
		t.Fatalf("list of empty prefix: %+v, %v", page, err)
	}
}

func testListPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []string
	for i := 0; i < 25; i++ {
		key := fmt.Sprintf("br/metrics/2026-01-%02d.json", i+1)
		want = append(want, key)
		if _, err := s.Put(ctx, key, strings.NewReader("x"), store.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// Neighbours that must not show up.
	for _, key := range []string{"br/backups/x.dump", "br2/metrics/2026-01-01.json", "b/metrics/2026-01-01.json"} {
		if _, err := s.Put(ctx, key, strings.NewReader("y"), store.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	pages := 0
	opts := store.ListOptions{Prefix: "br/metrics/", MaxKeys: 10}
	for {
		page, err := s.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Objects) > 10 {
			t.Fatalf("page of %d objects with MaxKeys 10", len(page.Objects))
		}
		for _, o := range page.Objects {
			if o.Size != 1 || o.ETag == "" || o.LastModified.IsZero() {
				t.Fatalf("listed object %+v lacks size, etag or time", o)
			}
			got = append(got, o.Key)
		}
		if page.NextToken == "" {
			break
		}
		opts.Token = page.NextToken
		if pages > 10 {
			t.Fatal("listing does not end")
		}
	}
	if pages != 3 {
		t.Errorf("25 keys at 10 a page took %d pages, want 3", pages)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listing = %v\nwant %v", got, want)
	}
	// The iterator sees the same.
	var all []string
	for o, err := range store.All(ctx, s, store.ListOptions{Prefix: "br/metrics/", MaxKeys: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, o.Key)
	}
	if !slices.Equal(all, want) {
		t.Fatalf("All = %v", all)
	}
}

func testListDelimiter(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, key := range []string{"a/metrics/1.json", "a/backups/1.dump", "b/metrics/1.json", "c-x/metrics/1.json", "top.txt"} {
		if _, err := s.Put(ctx, key, strings.NewReader("z"), store.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.List(ctx, store.ListOptions{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/", "b/", "c-x/"}; !slices.Equal(page.CommonPrefixes, want) {
		t.Fatalf("top-level prefixes = %v, want %v", page.CommonPrefixes, want)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != "top.txt" {
		t.Fatalf("top-level objects = %+v", page.Objects)
	}
	// Prefixes spanning pages.
	got, err := prefixesPaged(ctx, s, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/", "b/", "c-x/"}; !slices.Equal(got, want) {
		t.Fatalf("paged prefixes = %v", got)
	}
	sub, err := store.Prefixes(ctx, s, "a/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/backups/", "a/metrics/"}; !slices.Equal(sub, want) {
		t.Fatalf("a/ prefixes = %v", sub)
	}
}

func prefixesPaged(ctx context.Context, s store.Store, max int) ([]string, error) {
	var out []string
	opts := store.ListOptions{Delimiter: "/", MaxKeys: max}
	for i := 0; i < 20; i++ {
		page, err := s.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.CommonPrefixes...)
		if page.NextToken == "" {
			return out, nil
		}
		opts.Token = page.NextToken
	}
	return nil, errors.New("delimiter listing does not end")
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := "d/backups/d_20260101_220000.dump"
	if _, err := s.Put(ctx, key, strings.NewReader("dump"), store.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, key); !store.IsNotFound(err) {
		t.Fatalf("stat after delete: %v", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	page, err := s.List(ctx, store.ListOptions{Prefix: "d/"})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("list after delete: %+v %v", page, err)
	}
}

func testBadKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs/key", "a/../b", "a//b", "../x", "a/./b", "a\\b", ".meta/x"} {
		if _, err := s.Put(ctx, key, strings.NewReader("x"), store.PutOptions{Size: 1}); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("put %q: err = %v, want ErrBadKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("stat %q: err = %v, want ErrBadKey", key, err)
		}
	}
}

// failingReader fails after n bytes.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source broke")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func testFailedPut(t *testing.T, s store.Store) {
	ctx := context.Background()
	data := randomBytes(18<<20, 3)
	for _, size := range []int64{-1, int64(len(data))} {
		key := fmt.Sprintf("f/backups/f_20260101_22000%d.dump", size+1)
		_, err := s.Put(ctx, key, &failingReader{r: bytes.NewReader(data), n: 10 << 20}, store.PutOptions{Size: size})
		if err == nil {
			t.Fatalf("size %d: put of a broken stream succeeded", size)
		}
		if _, err := s.Stat(ctx, key); !store.IsNotFound(err) {
			t.Fatalf("size %d: a failed put left an object: %v", size, err)
		}
	}
	page, err := s.List(ctx, store.ListOptions{Prefix: "f/"})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("failed puts left %+v (%v)", page.Objects, err)
	}
}

func testListStartAfter(t *testing.T, s store.Store) {
	ctx := context.Background()
	keys := []string{"a/backups/a_1.dump", "a/metrics/2026-01-01.json", "a/metrics/2026-01-02.json", "a/metrics/2026-01-03.json", "b/metrics/2026-01-01.json"}
	for _, key := range keys {
		if _, err := s.Put(ctx, key, strings.NewReader("z"), store.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"after an existing key", store.ListOptions{StartAfter: "a/metrics/2026-01-01.json"}, keys[2:]},
		{"after a key that does not exist", store.ListOptions{StartAfter: "a/metrics/"}, keys[1:]},
		{"with a prefix", store.ListOptions{Prefix: "a/", StartAfter: "a/metrics/2026-01-02.json"}, keys[3:4]},
		{"bounded page", store.ListOptions{StartAfter: "a/backups/a_1.dump", MaxKeys: 2}, keys[1:3]},
		{"past the end", store.ListOptions{StartAfter: "c"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page, err := s.List(ctx, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range page.Objects {
				got = append(got, o.Key)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("listing = %v, want %v", got, c.want)
			}
		})
	}
	// The token of a bounded page continues after the page, not StartAfter.
	opts := store.ListOptions{StartAfter: "a/backups/a_1.dump", MaxKeys: 2}
	page, err := s.List(ctx, opts)
	if err != nil || page.NextToken == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	opts.Token = page.NextToken
	page, err = s.List(ctx, opts)
	if err != nil || len(page.Objects) != 2 || page.Objects[0].Key != keys[3] {
		t.Fatalf("second page: %+v, %v", page, err)
	}
}
