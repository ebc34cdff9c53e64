package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Error is an S3 failure told in words a person can act on: what went
// wrong and which setting to look at, with the server's error code in
// brackets ("bucket salon-backups does not exist (NoSuchBucket)").
// Request ids, host ids and the SDK's wrapping are left out of the text;
// the S3 store logs them at debug level where the error is mapped.
type S3Error struct {
	Code   string // the S3 error code or HTTP status ("NoSuchBucket", "503")
	Status int    // HTTP status; 0 when no answer came
	// Cause is the sentence Error returns.
	Cause string
	// Attempts is the number of requests made, retries included (0: unknown).
	Attempts int

	permanent bool
	notFound  bool
	err       error // the SDK's error
}

// Error is the cause in words.
func (e *S3Error) Error() string { return e.Cause }

// Unwrap returns the SDK's error (its text is for debug logs only).
func (e *S3Error) Unwrap() error { return e.err }

// Is makes a missing object match ErrNotFound.
func (e *S3Error) Is(target error) bool { return target == ErrNotFound && e.notFound }

// Permanent reports whether trying again cannot help: a missing bucket, a
// refused or unknown key, a wrong secret, a wrong region. Server errors,
// throttling, timeouts and cut connections are not permanent.
func (e *S3Error) Permanent() bool { return e.permanent }

// Permanent reports whether err holds an S3 failure that trying again
// cannot cure (see S3Error.Permanent).
func Permanent(err error) bool {
	var se *S3Error
	return errors.As(err, &se) && se.permanent
}

// regionCodes are the answers of a server that holds the bucket in
// another region, or of an endpoint for another region.
var regionCodes = map[string]bool{
	"AuthorizationHeaderMalformed":       true,
	"PermanentRedirect":                  true,
	"IllegalLocationConstraintException": true,
	"IncorrectEndpoint":                  true,
	"InvalidRegion":                      true,
	"MovedPermanently":                   true, // a HEAD answered 301 (no body, no code)
}

// describe maps an SDK error to an S3Error (see explain) and logs the
// SDK's full text at debug level.
func (s *S3) describe(op, key string, err error) error {
	e := s.explain(err)
	if s.log != nil && e != err {
		s.log.Debug("S3 request failed", "op", op, "key", key, "error", e.Error(), "detail", err.Error())
	}
	return e
}

// explain maps an SDK error to an S3Error; nil, context cancellation and
// S3Errors pass through unchanged.
func (s *S3) explain(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var already *S3Error
	if errors.As(err, &already) {
		return err
	}
	e := &S3Error{err: err}
	var mae *retry.MaxAttemptsError
	if errors.As(err, &mae) {
		e.Attempts = mae.Attempt
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code = ae.ErrorCode()
	}
	if e.Code == "" && e.Status != 0 {
		e.Code = fmt.Sprint(e.Status)
	}
	bucket := s.bucket
	switch {
	case e.Code == "NoSuchKey" || e.Code == "NotFound" || e.Code == "NoSuchUpload" || e.Code == "404":
		e.notFound = true
		e.Cause = fmt.Sprintf("%s (%s)", ErrNotFound, e.Code)
	case e.Code == "NoSuchBucket":
		e.permanent = true
		e.Cause = fmt.Sprintf("bucket %s does not exist (NoSuchBucket): check BACKUP_S3_BUCKET", bucket)
	case e.Code == "InvalidAccessKeyId":
		e.permanent = true
		e.Cause = "the server does not know the access key BACKUP_S3_ACCESS_KEY (InvalidAccessKeyId)"
	case e.Code == "SignatureDoesNotMatch":
		e.permanent = true
		e.Cause = "the request signature was refused: BACKUP_S3_SECRET_KEY does not belong to BACKUP_S3_ACCESS_KEY, or the clock is wrong (SignatureDoesNotMatch)"
	case e.Code == "RequestTimeTooSkewed":
		e.permanent = true
		e.Cause = "this machine's clock differs too much from the server's: requests are refused until it is set right (RequestTimeTooSkewed)"
	case regionCodes[e.Code] || e.Status == http.StatusMovedPermanently:
		e.permanent = true
		e.Cause = fmt.Sprintf("bucket %s is not served by this endpoint and region (%s): check BACKUP_S3_REGION %q and BACKUP_S3_ENDPOINT", bucket, e.Code, s.region)
	case e.Code == "AccessDenied" || e.Code == "AllAccessDisabled" || e.Code == "Forbidden" || e.Status == http.StatusForbidden:
		e.permanent = true
		e.Cause = fmt.Sprintf("the key BACKUP_S3_ACCESS_KEY may not do this in bucket %s (%s)", bucket, e.Code)
	case e.Code == "InvalidBucketName":
		e.permanent = true
		e.Cause = fmt.Sprintf("%q is not a valid bucket name (InvalidBucketName): check BACKUP_S3_BUCKET", bucket)
	case e.Status >= 500 || e.Code == "SlowDown" || e.Status == http.StatusTooManyRequests:
		e.Cause = fmt.Sprintf("the S3 server is unavailable (%s)", statusWords(e.Code, e.Status))
	case e.Code != "":
		e.Cause = fmt.Sprintf("the S3 server refused the request (%s%s)", e.Code, apiMessage(ae))
	default:
		e.Cause = s.networkCause(err)
	}
	if e.Attempts > 1 {
		e.Cause += fmt.Sprintf(", after %d attempts", e.Attempts)
	}
	return e
}

// networkCause words a failure without an answer from the server.
func (s *S3) networkCause(err error) string {
	var ne net.Error
	var oe *net.OpError
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the operation ran out of time (deadline exceeded)"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve the S3 server's name %s: check BACKUP_S3_ENDPOINT", dns.Name)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("the S3 server at %s did not answer in time (timeout)", s.endpoint)
	case errors.As(err, &oe) && oe.Op == "dial":
		return fmt.Sprintf("cannot connect to the S3 server at %s (%v): check BACKUP_S3_ENDPOINT", s.endpoint, oe.Err)
	case strings.Contains(err.Error(), "connection reset"), strings.Contains(err.Error(), "EOF"):
		return fmt.Sprintf("the S3 server at %s cut the connection", s.endpoint)
	}
	// Last resort: the innermost error, without the SDK's wrapping.
	inner := err
	for {
		next := errors.Unwrap(inner)
		if next == nil {
			break
		}
		inner = next
	}
	return "S3 request failed: " + inner.Error()
}

func statusWords(code string, status int) string {
	if status == 0 {
		return code
	}
	if code == fmt.Sprint(status) {
		return fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return fmt.Sprintf("%s, %d %s", code, status, http.StatusText(status))
}

func apiMessage(ae smithy.APIError) string {
	if ae == nil || ae.ErrorMessage() == "" {
		return ""
	}
	return ": " + ae.ErrorMessage()
}
