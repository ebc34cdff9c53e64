package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Options configures the S3 store.
type S3Options struct {
	Endpoint       string // e.g. https://s3.us-west-004.backblazeb2.com
	Bucket         string
	AccessKey      string
	SecretKey      string // never logged: see LogValue
	Region         string
	ForcePathStyle bool

	// PartSize is the multipart part size (default 8 MiB, minimum 5 MiB).
	PartSize int64
	// Concurrency is the number of parts in flight per upload (default 3).
	// Memory held by one upload of unknown length is about
	// PartSize × (Concurrency+1).
	Concurrency int
	// MaxAttempts per request, retries included (DefaultS3MaxAttempts).
	MaxAttempts int
	// BackoffBase is the wait before the first retry of a request, before
	// jitter (DefaultS3BackoffBase); it doubles up to MaxBackoff.
	BackoffBase time.Duration
	// MaxBackoff caps the wait between retries (DefaultS3MaxBackoff).
	MaxBackoff time.Duration
	// StallTimeout fails an attempt whose connection neither sends nor
	// receives a byte for this long (DefaultS3StallTimeout): a server that
	// accepts and never answers costs one timeout per attempt.
	StallTimeout time.Duration
	// HTTPClient overrides the default client (tests); StallTimeout then
	// does not apply.
	HTTPClient *http.Client
	// Logger receives a warning before each retry and, at debug level,
	// the SDK's full error text (request and host ids). nil logs nothing.
	Logger *slog.Logger
}

// LogValue keeps the secret key out of logs.
func (o S3Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", o.Endpoint),
		slog.String("bucket", o.Bucket),
		slog.String("region", o.Region),
		slog.String("access_key", o.AccessKey),
		slog.Bool("force_path_style", o.ForcePathStyle),
	)
}

// String keeps the secret key out of %v.
func (o S3Options) String() string {
	return fmt.Sprintf("s3(endpoint=%s bucket=%s region=%s access_key=%s secret=REDACTED)", o.Endpoint, o.Bucket, o.Region, o.AccessKey)
}

// S3 is a Store over an S3-compatible bucket.
//
// It never calls ListBuckets or HeadBucket and never lists outside the
// prefix it is given, so a key restricted to one prefix (a B2 application
// key per branch) is enough. Checksums are only sent when an operation
// requires them (B2 rejects the SDK's default CRC32 headers).
type S3 struct {
	client   *s3.Client
	tm       *tm.Client
	presign  *s3.PresignClient
	bucket   string
	region   string
	endpoint string
	log      *slog.Logger
}

var (
	_ Store         = (*S3)(nil)
	_ Presigner     = (*S3)(nil)
	_ UploadCleaner = (*S3)(nil)
)

// NewS3 builds the client. It does no I/O.
func NewS3(o S3Options) (*S3, error) {
	if o.Endpoint == "" || o.Bucket == "" || o.AccessKey == "" || o.SecretKey == "" {
		return nil, errors.New("s3 store: endpoint, bucket, access key and secret key are all required")
	}
	if o.Region == "" {
		o.Region = "us-west-004"
	}
	if o.PartSize == 0 {
		o.PartSize = 8 << 20
	}
	if o.PartSize < 5<<20 {
		return nil, fmt.Errorf("s3 store: part size %d is below the 5 MiB minimum", o.PartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 3
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultS3MaxAttempts
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultS3BackoffBase
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultS3MaxBackoff
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultS3StallTimeout
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           stallDialer(o.StallTimeout),
			TLSHandshakeTimeout:   min(10*time.Second, o.StallTimeout),
			ResponseHeaderTimeout: 2 * time.Minute,
			// Below the stall timeout, so that the pool drops an idle
			// connection before its pending read times out.
			IdleConnTimeout:     o.StallTimeout / 2,
			MaxIdleConnsPerHost: 64,
			ForceAttemptHTTP2:   true,
		}}
	}
	st := &S3{bucket: o.Bucket, region: o.Region, endpoint: o.Endpoint, log: o.Logger}
	client := s3.New(s3.Options{
		BaseEndpoint:               aws.String(o.Endpoint),
		Region:                     o.Region,
		Credentials:                credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
		UsePathStyle:               o.ForcePathStyle,
		HTTPClient:                 hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer: newRetryer(o.MaxAttempts, Backoff{Base: o.BackoffBase, Max: o.MaxBackoff}, o.Logger,
			func(err error) string { return st.explain(err).Error() }),
		APIOptions:         []func(*middleware.Stack) error{addNameAttempts},
		EndpointResolverV2: newEndpointCache(s3.NewDefaultEndpointResolverV2()),
	})
	tmc := tm.New(client, func(to *tm.Options) {
		to.PartSizeBytes = o.PartSize
		to.Concurrency = o.Concurrency
		to.MultipartUploadThreshold = o.PartSize
		to.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		to.DisableChecksumValidation = true
		to.FailTimeout = 30 * time.Second
	})
	st.client, st.tm, st.presign = client, tmc, s3.NewPresignClient(client)
	return st, nil
}

// Client exposes the SDK client for callers with needs beyond the contract.
func (s *S3) Client() *s3.Client { return s.client }

// Bucket is the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// Put uploads the stream. Streams of unknown size or above one part go up as
// a multipart upload, which the transfer manager aborts on failure, so that
// no partial object ever appears under key.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := validateMetadata(opts.Metadata); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	in := &tm.UploadObjectInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(key),
		Body:     r,
		Metadata: lowerKeys(opts.Metadata),
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	if opts.Size >= 0 {
		in.ContentLength = aws.Int64(opts.Size)
	}
	var tmOpts []func(*tm.Options)
	if !opts.RetainUntil.IsZero() {
		if opts.LockMode != string(tmtypes.ObjectLockModeCompliance) && opts.LockMode != string(tmtypes.ObjectLockModeGovernance) {
			return ObjectInfo{}, fmt.Errorf("put %s: object lock mode %q is not COMPLIANCE or GOVERNANCE", key, opts.LockMode)
		}
		in.ObjectLockMode = tmtypes.ObjectLockMode(opts.LockMode)
		in.ObjectLockRetainUntilDate = aws.Time(opts.RetainUntil.UTC())
		// S3 wants an integrity header on locked uploads; B2 refuses the
		// SDK's CRC32 headers but checks Content-MD5, so every request that
		// carries bytes (PutObject, UploadPart) gets one.
		tmOpts = append(tmOpts, func(o *tm.Options) { o.S3 = contentMD5Client{s.client} })
	}
	if _, err := s.tm.UploadObject(ctx, in, tmOpts...); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, s.describe("put", key, err))
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: confirm: %w", key, err)
	}
	if opts.Size >= 0 && info.Size != opts.Size {
		return ObjectInfo{}, fmt.Errorf("put %s: stored %d bytes, sent %d", key, info.Size, opts.Size)
	}
	return info, nil
}

// contentMD5Client sends Content-MD5 on the requests of an upload that
// carry bytes. The transfer manager hands them in-memory (seekable) bodies,
// so the digest is computed before the request is signed.
type contentMD5Client struct{ *s3.Client }

func withContentMD5(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, smithyhttp.AddContentChecksumMiddleware)
}

// PutObject sends a single-part upload with Content-MD5.
func (c contentMD5Client) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return c.Client.PutObject(ctx, in, append(opts, withContentMD5)...)
}

// UploadPart sends one part with Content-MD5.
func (c contentMD5Client) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return c.Client.UploadPart(ctx, in, append(opts, withContentMD5)...)
}

var _ tm.S3APIClient = contentMD5Client{}

// Get opens the object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, s.describe("get", key, err))
	}
	return out.Body, headInfo(key, out.ContentLength, out.ETag, out.LastModified, out.ContentType, out.Metadata), nil
}

// Stat issues a HEAD request.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, s.describe("stat", key, err))
	}
	return headInfo(key, out.ContentLength, out.ETag, out.LastModified, out.ContentType, out.Metadata), nil
}

// List issues one ListObjectsV2 request.
func (s *S3) List(ctx context.Context, opts ListOptions) (Page, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(opts.Prefix)}
	if opts.Delimiter != "" {
		in.Delimiter = aws.String(opts.Delimiter)
	}
	if opts.Token != "" {
		in.ContinuationToken = aws.String(opts.Token)
	} else if opts.StartAfter != "" {
		in.StartAfter = aws.String(opts.StartAfter)
	}
	if opts.MaxKeys > 0 {
		in.MaxKeys = aws.Int32(int32(min(opts.MaxKeys, 1000)))
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("%s: %w", opOn("list", opts.Prefix), s.describe("list", opts.Prefix, err))
	}
	var page Page
	for _, o := range out.Contents {
		page.Objects = append(page.Objects, ObjectInfo{
			Key:          aws.ToString(o.Key),
			Size:         aws.ToInt64(o.Size),
			ETag:         strings.Trim(aws.ToString(o.ETag), `"`),
			LastModified: aws.ToTime(o.LastModified),
		})
	}
	for _, p := range out.CommonPrefixes {
		page.CommonPrefixes = append(page.CommonPrefixes, aws.ToString(p.Prefix))
	}
	if aws.ToBool(out.IsTruncated) {
		page.NextToken = aws.ToString(out.NextContinuationToken)
		if page.NextToken == "" {
			return Page{}, fmt.Errorf("%s: truncated listing without a continuation token", opOn("list", opts.Prefix))
		}
	}
	return page, nil
}

// Delete issues a single DeleteObject (the batch call needs a checksum
// header that B2-style servers reject when absent and that we do not send).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !IsNotFound(s.explain(err)) {
		return fmt.Errorf("delete %s: %w", key, s.describe("delete", key, err))
	}
	return nil
}

// PresignGet returns a URL that downloads key for ttl.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return req.URL, nil
}

// AbortIncompleteUploads aborts multipart uploads under prefix started more
// than olderThan ago (left behind by a process killed mid-upload).
func (s *S3) AbortIncompleteUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	n := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("%s: %w", opOn("list uploads", prefix), s.describe("list uploads", prefix, err))
		}
		for _, u := range out.Uploads {
			if olderThan > 0 && u.Initiated != nil && time.Since(*u.Initiated) < olderThan {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil && !IsNotFound(s.explain(err)) {
				return n, fmt.Errorf("abort upload %s: %w", aws.ToString(u.Key), s.describe("abort upload", aws.ToString(u.Key), err))
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// headInfo builds the ObjectInfo of a GET or HEAD response.
func headInfo(key string, size *int64, etag *string, modified *time.Time, ctype *string, meta map[string]string) ObjectInfo {
	info := ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(size),
		ETag:         strings.Trim(aws.ToString(etag), `"`),
		LastModified: aws.ToTime(modified),
		ContentType:  aws.ToString(ctype),
		Metadata:     lowerKeys(meta),
	}
	if info.Metadata == nil {
		info.Metadata = map[string]string{}
	}
	return info
}
