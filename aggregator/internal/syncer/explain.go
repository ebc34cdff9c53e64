package syncer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/branchwatch/branchwatch/shared/store"
)

// OpError is a bucket operation of a sync that failed: What says in words
// what was being done ("list the bucket salon-backups"). Its Error keeps
// every detail of the cause, for the logs; Explain makes the line shown.
type OpError struct {
	What string
	Err  error
}

func (e *OpError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// Explain is a sync's error as one line for people: what could not be
// done and why, in words ("cannot list the bucket salon-backups: access
// denied"), without the SDK's request ids. "" for a nil error.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	ops := opErrors(err, nil)
	if len(ops) == 0 {
		return "the sync failed: " + Cause(err)
	}
	line := "cannot " + ops[0].What + ": " + Cause(ops[0].Err)
	if n := len(ops) - 1; n == 1 {
		line += " (and 1 more failure)"
	} else if n > 1 {
		line += fmt.Sprintf(" (and %d more failures)", n)
	}
	return line
}

// opErrors collects the OpErrors of an error tree, outermost first.
func opErrors(err error, out []*OpError) []*OpError {
	if oe, ok := err.(*OpError); ok {
		return append(out, oe)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = opErrors(e, out)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = opErrors(e, out)
		}
	}
	return out
}

// Cause says in a few words why a bucket request failed.
func Cause(err error) string {
	if te, ok := errors.AsType[*TimeoutError](err); ok {
		return fmt.Sprintf("no complete answer within %s", te.Limit)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "it took too long (cancelled)"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case store.IsNotFound(err):
		return "not found"
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		switch ae.ErrorCode() {
		case "AccessDenied", "Forbidden", "AllAccessDisabled":
			return "access denied"
		case "NoSuchBucket":
			return "the bucket does not exist"
		case "InvalidAccessKeyId":
			return "the access key is not known to the server"
		case "SignatureDoesNotMatch":
			return "the secret key does not match the access key"
		case "ExpiredToken", "TokenRefreshRequired":
			return "the credentials have expired"
		case "SlowDown", "ServiceUnavailable", "RequestLimitExceeded":
			return "the server is overloaded (" + ae.ErrorCode() + ")"
		}
	}
	if de, ok := errors.AsType[*net.DNSError](err); ok {
		return fmt.Sprintf("the host %s was not found", de.Name)
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return "the server's TLS certificate is not trusted"
	}
	if ne, ok := errors.AsType[*net.OpError](err); ok {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Sprintf("connection refused by %v", ne.Addr)
		case errors.Is(err, syscall.ECONNRESET):
			return "the connection was reset"
		case ne.Timeout():
			return "the connection timed out"
		}
		return "a network error (" + ne.Op + ")"
	}
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && re.HTTPStatusCode() != 0 {
		switch code := re.HTTPStatusCode(); {
		case code == 401 || code == 403:
			return "access denied"
		case code == 404:
			return "not found (is the bucket name right?)"
		case code >= 500:
			return fmt.Sprintf("the server answered %d (a server error)", code)
		default:
			return fmt.Sprintf("the server answered %d", code)
		}
	}
	msg := err.Error()
	if i := strings.Index(msg, "RequestID"); i >= 0 || len(msg) > 160 {
		return "the server refused the request"
	}
	return msg
}
