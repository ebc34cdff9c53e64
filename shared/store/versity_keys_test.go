package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// TestVersityKeys configures versitygw as production is: one key per
// branch, limited by the bucket policy to its own prefix, and a read-only
// key for the aggregator; signatures and the region are checked. Each key
// may do exactly what its grant says.
func TestVersityKeys(t *testing.T) {
	srv := testenv.StartRealS3(t)
	b := srv.ProductionBucket(t, []string{"branch-x", "branch-y"})
	bucket, x, agg := b.Name, b.Branch["branch-x"], b.Aggregator
	ctx := context.Background()
	root := srv.Store(t, bucket, srv.Root)
	for _, k := range []string{"branch-x/backups/a.dump", "branch-y/backups/b.dump", "branch-xy/backups/c.dump"} {
		if _, err := root.Put(ctx, k, strings.NewReader("PGDMP "+k), store.PutOptions{Size: int64(len("PGDMP " + k))}); err != nil {
			t.Fatal(err)
		}
	}
	stores := map[string]*store.S3{"x": srv.Store(t, bucket, x), "agg": srv.Store(t, bucket, agg)}
	put := func(s *store.S3, key string) error {
		_, err := s.Put(ctx, key, strings.NewReader("new"), store.PutOptions{Size: 3})
		return err
	}
	get := func(s *store.S3, key string) error {
		rc, _, err := s.Get(ctx, key)
		if err == nil {
			rc.Close()
		}
		return err
	}
	list := func(s *store.S3, prefix string) error {
		_, err := s.List(ctx, store.ListOptions{Prefix: prefix})
		return err
	}
	cases := []struct {
		name    string
		key     string
		op      func() error
		allowed bool
	}{
		{"branch puts under its prefix", "x", func() error { return put(stores["x"], "branch-x/backups/new.dump") }, true},
		{"branch gets its own", "x", func() error { return get(stores["x"], "branch-x/backups/a.dump") }, true},
		{"branch lists its prefix", "x", func() error { return list(stores["x"], "branch-x/") }, true},
		{"branch deletes its own", "x", func() error { return stores["x"].Delete(ctx, "branch-x/backups/new.dump") }, true},
		{"branch aborts its stale uploads", "x", func() error {
			_, err := stores["x"].AbortIncompleteUploads(ctx, "branch-x/", 0)
			return err
		}, true},
		{"branch puts into a neighbour", "x", func() error { return put(stores["x"], "branch-y/backups/evil.dump") }, false},
		{"branch puts into a prefix sharing its first letters", "x", func() error { return put(stores["x"], "branch-xy/backups/evil.dump") }, false},
		{"branch reads a neighbour", "x", func() error { return get(stores["x"], "branch-y/backups/b.dump") }, false},
		{"branch deletes a neighbour", "x", func() error { return stores["x"].Delete(ctx, "branch-y/backups/b.dump") }, false},
		{"branch lists a neighbour", "x", func() error { return list(stores["x"], "branch-y/") }, false},
		{"branch lists the whole bucket", "x", func() error { return list(stores["x"], "") }, false},
		{"aggregator lists the bucket", "agg", func() error { return list(stores["agg"], "") }, true},
		{"aggregator reads any branch", "agg", func() error { return get(stores["agg"], "branch-y/backups/b.dump") }, true},
		{"aggregator cannot write", "agg", func() error { return put(stores["agg"], "branch-x/backups/agg.dump") }, false},
		{"aggregator cannot delete", "agg", func() error { return stores["agg"].Delete(ctx, "branch-x/backups/a.dump") }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.op()
			switch {
			case c.allowed && err != nil:
				t.Fatalf("refused: %v", err)
			case !c.allowed && !isAccessDenied(err):
				t.Fatalf("err = %v, want AccessDenied", err)
			}
		})
	}
	// Nothing of the neighbours changed.
	for _, k := range []string{"branch-y/backups/b.dump", "branch-xy/backups/c.dump", "branch-x/backups/a.dump"} {
		info, err := root.Stat(ctx, k)
		if err != nil || info.Size != int64(len("PGDMP "+k)) {
			t.Errorf("%s after the refused requests: %+v, %v", k, info, err)
		}
	}
	for _, k := range []string{"branch-y/backups/evil.dump", "branch-xy/backups/evil.dump", "branch-x/backups/agg.dump"} {
		if _, err := root.Stat(ctx, k); !store.IsNotFound(err) {
			t.Errorf("%s exists after a refused put (%v)", k, err)
		}
	}

	// Signatures and the region are checked.
	for _, c := range []struct {
		name   string
		mutate func(o *store.S3Options)
		code   string
	}{
		{"wrong secret", func(o *store.S3Options) { o.SecretKey += "x" }, "SignatureDoesNotMatch"},
		{"wrong region", func(o *store.S3Options) { o.Region = "us-east-1" }, ""},
		{"unknown key", func(o *store.S3Options) { o.AccessKey = "nobody" }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := srv.Options(bucket, x)
			o.MaxAttempts = 1
			c.mutate(&o)
			s, err := store.NewS3(o)
			if err != nil {
				t.Fatal(err)
			}
			err = get(s, "branch-x/backups/a.dump")
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want a refusal from the server", err)
			}
			if c.code != "" && ae.ErrorCode() != c.code {
				t.Fatalf("code %s (%v), want %s", ae.ErrorCode(), err, c.code)
			}
		})
	}
}

func isAccessDenied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied"
}
