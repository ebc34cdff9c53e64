package testenv

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/branchwatch/branchwatch/shared/store"
)

// TestB2RecorderCatches proves the guard bites: an SDK client left at its
// defaults (CRC32 checksums, aws-chunked uploads with a trailer) and the
// calls B2 refuses are all reported, while the store's own requests pass.
func TestB2RecorderCatches(t *testing.T) {
	srv := StartRealS3(t)
	bucket := srv.CreateBucket(t)
	rec := RecordB2(t, srv)
	ctx := context.Background()
	// The SDK's default as config.LoadDefaultConfig resolves it.
	defaults := s3.New(s3.Options{
		BaseEndpoint: aws.String(rec.Endpoint), Region: srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(srv.Root.Access, srv.Root.Secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	if _, err := defaults.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("branch-x/a"),
		Body: struct{ *strings.Reader }{strings.NewReader("PGDMP")}, ContentLength: aws.Int64(5)}); err != nil {
		t.Fatalf("default put: %v", err)
	}
	if _, err := defaults.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("list buckets: %v", err)
	}
	if _, err := defaults.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("head bucket: %v", err)
	}
	got := map[string]string{}
	for _, q := range rec.Requests() {
		got[q.Op] = strings.Join(q.Violations, "; ")
	}
	for op, want := range map[string][]string{
		OpPutObject:   {"x-amz-checksum-crc32"},
		OpListBuckets: {"ListBuckets"},
		OpHeadBucket:  {"HeadBucket"},
	} {
		for _, w := range want {
			if !strings.Contains(strings.ToLower(got[op]), strings.ToLower(w)) {
				t.Errorf("%s: violations %q do not report %s", op, got[op], w)
			}
		}
	}

	// The product's store, configured for B2, stays inside the profile.
	before := len(rec.Requests())
	o := srv.Options(bucket, srv.Root)
	o.Endpoint = rec.Endpoint
	clean, err := store.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clean.Put(ctx, "branch-x/b", strings.NewReader("PGDMP"), store.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	for _, q := range rec.Requests()[before:] {
		if len(q.Violations) > 0 {
			t.Errorf("the store's %s %s: %v", q.Method, q.Path, q.Violations)
		}
	}
}

// TestB2Violations: each shape B2 refuses is reported, and a plain signed
// PUT is not.
func TestB2Violations(t *testing.T) {
	cases := []struct {
		name   string
		method string
		target string
		header map[string]string
		want   string
	}{
		{"plain put", "PUT", "/b/branch-x/k?x-id=PutObject", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, ""},
		{"crc32 header", "PUT", "/b/branch-x/k", map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, "flexible checksums"},
		{"sdk checksum algorithm", "PUT", "/b/branch-x/k?uploadId=1&partNumber=1", map[string]string{"X-Amz-Sdk-Checksum-Algorithm": "CRC32"}, "flexible checksums"},
		{"aws-chunked", "PUT", "/b/branch-x/k", map[string]string{"Content-Encoding": "aws-chunked"}, "chunked uploads"},
		{"trailer", "PUT", "/b/branch-x/k", map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, "trailers"},
		{"streaming signature", "PUT", "/b/branch-x/k", map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, "chunked signing"},
		{"list buckets", "GET", "/", nil, "ListBuckets"},
		{"head bucket", "HEAD", "/b", nil, "HeadBucket"},
		{"batch delete", "POST", "/b?delete", nil, "DeleteObjects"},
		{"list v2", "GET", "/b?list-type=2&prefix=branch-x%2F", nil, ""},
		{"presigned get", "GET", "/b/branch-x/k?X-Amz-Signature=abc&X-Amz-Credential=x", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			got := strings.Join(B2Violations(r), "; ")
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("violations %q, want %q", got, c.want)
			}
		})
	}
}
