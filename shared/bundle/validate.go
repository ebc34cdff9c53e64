package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Validate checks what a reader relies on: a valid branch id and month, a
// generated_at in RFC 3339, at most MaxDocuments entries in strictly
// increasing date order, each of a date of the month, non-empty, at most
// metrics.MaxDocumentBytes, and with the SHA-256 of its bytes. Every
// problem is named; errors wrap ErrInvalid.
func (b Bundle) Validate() error {
	var errs []string
	if b.SchemaVersion != CurrentVersion {
		errs = append(errs, fmt.Sprintf("schema_version is %d, want %d", b.SchemaVersion, CurrentVersion))
	}
	if err := layout.ValidateBranchID(b.BranchID); err != nil {
		errs = append(errs, "branch_id: "+err.Error())
	}
	month, err := layout.ParseMonth(b.Month)
	if err != nil {
		errs = append(errs, fmt.Sprintf("month %q is not YYYY-MM", b.Month))
	}
	if _, err := time.Parse(time.RFC3339, b.GeneratedAt); err != nil {
		errs = append(errs, fmt.Sprintf("generated_at %q is not RFC 3339", b.GeneratedAt))
	}
	if len(b.Documents) > MaxDocuments {
		errs = append(errs, fmt.Sprintf("%d documents, at most %d", len(b.Documents), MaxDocuments))
	}
	prev := ""
	for i, e := range b.Documents {
		at := fmt.Sprintf("documents[%d]", i)
		d, err := layout.ParseDate(e.Date)
		switch {
		case err != nil:
			errs = append(errs, fmt.Sprintf("%s: date %q is not YYYY-MM-DD", at, e.Date))
		case !month.IsZero() && (d.Year() != month.Year() || d.Month() != month.Month()):
			errs = append(errs, fmt.Sprintf("%s: date %s is not in %s", at, e.Date, b.Month))
		case e.Date <= prev:
			errs = append(errs, fmt.Sprintf("%s: date %s does not follow %s", at, e.Date, prev))
		}
		if err == nil {
			prev = e.Date
		}
		switch {
		case len(e.Body) == 0:
			errs = append(errs, at+": body is empty")
		case len(e.Body) > metrics.MaxDocumentBytes:
			errs = append(errs, fmt.Sprintf("%s: body is %d bytes, limit %d", at, len(e.Body), metrics.MaxDocumentBytes))
		}
		sum := sha256.Sum256(e.Body)
		if want := hex.EncodeToString(sum[:]); e.SHA256 != want {
			errs = append(errs, fmt.Sprintf("%s: sha256 %q is not the SHA-256 of its body", at, e.SHA256))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// CheckKey checks that b belongs at key: a monthly bundle key of its
// branch and month.
func (b Bundle) CheckKey(key string) error {
	k, err := layout.ParseKey(key, time.UTC)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyMismatch, err)
	}
	if k.Kind != layout.MonthlyKind {
		return fmt.Errorf("%w: %q is not a monthly bundle key", ErrKeyMismatch, key)
	}
	var errs []string
	if k.Branch != b.BranchID {
		errs = append(errs, fmt.Sprintf("branch_id %q under prefix %q", b.BranchID, k.Branch))
	}
	if m := k.Date.Format(layout.MonthFormat); m != b.Month {
		errs = append(errs, fmt.Sprintf("month %q in the key of %s", b.Month, m))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrKeyMismatch, strings.Join(errs, "; "))
	}
	return nil
}
