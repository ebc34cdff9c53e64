package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go"

	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

const localOnly = "local-only mode (no BACKUP_S3_* settings): nothing to check"

// bucket overwrites the branch's agent status object: it proves the bucket
// exists and the key may write under <branch>/ without leaving a new
// object per check behind (a key that cannot delete can do it). earlier
// are the results so far, recorded in the document.
func (c *checker) bucket(ctx context.Context, earlier []Result) Result {
	o := c.cfg.Options
	if c.cfg.Store == nil {
		return skip(CheckBucket, config.EnvS3Bucket, localOnly)
	}
	key, err := layout.AgentStatusKey(o.BranchID)
	if err != nil {
		return fail(CheckBucket, "BRANCH_ID", "%v", err)
	}
	var failing []string
	for _, r := range Failed(earlier) {
		failing = append(failing, c.cfg.Redact.String(r.Problem()))
	}
	status := agentstatus.New(o.BranchID, c.cfg.AgentVersion, c.cfg.Now(), failing)
	if c.cfg.Status != nil {
		status = c.cfg.Status(failing)
	}
	if status.Instance == "" {
		status.Instance = c.cfg.Instance
	}
	doc, err := status.Marshal()
	if err != nil {
		return fail(CheckBucket, config.EnvS3Bucket, "%v", err)
	}
	_, err = c.cfg.Store.Put(ctx, key, bytes.NewReader(doc), store.PutOptions{Size: int64(len(doc)), ContentType: agentstatus.ContentType})
	if err != nil {
		setting, why := S3Reason(err, o.S3.Bucket, key)
		return fail(CheckBucket, setting, "%s", why)
	}
	return pass(CheckBucket, config.EnvS3Bucket, "bucket %s is reachable and %s was written", o.S3.Bucket, key)
}

// S3Reason names the setting an S3 failure most likely concerns and says
// what went wrong in words, without request ids or SDK wrapping.
func S3Reason(err error, bucket, key string) (setting, why string) {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		code := ae.ErrorCode()
		switch code {
		case "NoSuchBucket":
			return config.EnvS3Bucket, fmt.Sprintf("bucket %s does not exist (NoSuchBucket)", bucket)
		case "AccessDenied", "Forbidden":
			return config.EnvS3AccessKey, fmt.Sprintf("the key may not write %s in bucket %s (%s)", key, bucket, code)
		case "InvalidAccessKeyId":
			return config.EnvS3AccessKey, "the access key is not known to the server (InvalidAccessKeyId)"
		case "SignatureDoesNotMatch":
			return config.EnvS3SecretKey, "the secret key does not match the access key (SignatureDoesNotMatch)"
		case "RequestTimeTooSkewed":
			return SettingClock, "the server refused the request: this host's clock is too far from the server's (RequestTimeTooSkewed)"
		case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
			return config.EnvS3Region, fmt.Sprintf("the bucket is in another region (%s)", code)
		}
		msg := ae.ErrorMessage()
		if msg == "" {
			msg = "refused"
		}
		return config.EnvS3Bucket, fmt.Sprintf("write %s in bucket %s: %s (%s)", key, bucket, msg, code)
	}
	if _, ok := errors.AsType[net.Error](err); ok || errors.Is(err, context.DeadlineExceeded) {
		return config.EnvS3Endpoint, "the S3 endpoint does not answer: " + lastCause(err)
	}
	return config.EnvS3Bucket, fmt.Sprintf("write %s in bucket %s: %s", key, bucket, lastCause(err))
}

// lastCause is the innermost message of a chain ("connection refused").
func lastCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// clock compares the host's clock with the Date header of the S3
// server's answer to a plain HEAD of the endpoint.
func (c *checker) clock(ctx context.Context) Result {
	if c.cfg.Store == nil {
		return skip(CheckClock, SettingClock, localOnly)
	}
	endpoint := c.cfg.Options.S3.Endpoint
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, endpoint, nil)
	if err != nil {
		return fail(CheckClock, config.EnvS3Endpoint, "%v", err)
	}
	before := c.cfg.Wall()
	resp, err := c.cfg.HTTPClient.Do(req)
	after := c.cfg.Wall()
	if err != nil {
		return skip(CheckClock, SettingClock, "the S3 server's clock is unknown: %s does not answer (%s)", endpoint, lastCause(err))
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return skip(CheckClock, SettingClock, "the S3 server sent no Date header to compare with")
	}
	// The header has whole seconds; the request took (after-before).
	mid := before.Add(after.Sub(before) / 2)
	skew := mid.Sub(date)
	rounded := skew.Round(time.Second)
	dir := "ahead of"
	if skew < 0 {
		dir, rounded = "behind", -rounded
	}
	if skew.Abs() > MaxClockSkew {
		return fail(CheckClock, SettingClock, "this host's clock is %s %s the S3 server's (%s): beyond %s request signatures are refused; fix the time sync (NTP)",
			rounded, dir, strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://"), MaxClockSkew)
	}
	return pass(CheckClock, SettingClock, "%s %s the S3 server's clock (limit %s)", rounded, dir, MaxClockSkew)
}
