package simulation_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// oracleSQL recomputes one business day's figures from the reference
// schema, one plain subquery per figure, written from metrics-v1.md
// independently of the agent's query. $1 and $2 are the day's bounds in
// the branch's zone, $3 the date.
const oracleSQL = `
WITH paid AS (SELECT * FROM bills WHERE status = 'paid'),
day_bills AS (SELECT * FROM paid WHERE billed_at >= $1 AND billed_at < $2),
day_refunds AS (SELECT r.* FROM refunds r JOIN paid b ON b.id = r.bill_id WHERE r.refunded_at >= $1 AND r.refunded_at < $2),
day_payments AS (SELECT p.* FROM payments p JOIN paid b ON b.id = p.bill_id WHERE p.paid_at >= $1 AND p.paid_at < $2)
SELECT
  (SELECT count(*) FROM day_bills),
  (SELECT count(*) FROM day_refunds),
  (SELECT coalesce(sum(subtotal), 0) FROM day_bills),
  (SELECT coalesce(sum(discount), 0) FROM day_bills),
  (SELECT coalesce(sum(amount), 0) FROM day_refunds),
  (SELECT coalesce(sum(cgst), 0) FROM day_bills) - (SELECT coalesce(sum(cgst), 0) FROM day_refunds),
  (SELECT coalesce(sum(sgst), 0) FROM day_bills) - (SELECT coalesce(sum(sgst), 0) FROM day_refunds),
  (SELECT coalesce(sum(amount), 0) FROM day_payments WHERE method = 'cash')
    - (SELECT coalesce(sum(amount + cgst + sgst), 0) FROM day_refunds WHERE method = 'cash'),
  (SELECT coalesce(sum(amount), 0) FROM day_payments WHERE method <> 'cash')
    - (SELECT coalesce(sum(amount + cgst + sgst), 0) FROM day_refunds WHERE method <> 'cash'),
  (SELECT coalesce(sum(i.quantity * i.unit_cost), 0) FROM bill_items i JOIN day_bills b ON b.id = i.bill_id WHERE i.kind = 'service'),
  (SELECT coalesce(sum(i.quantity * i.unit_cost), 0) FROM bill_items i JOIN day_bills b ON b.id = i.bill_id WHERE i.kind = 'product'),
  (SELECT coalesce(sum(amount), 0) FROM expenses WHERE spent_on = $3::date),
  (SELECT coalesce(sum(tip), 0) FROM day_bills)`

// recompute is date's document (figures only) from the database at url.
func recompute(ctx context.Context, url string, date time.Time, loc *time.Location) (metrics.Document, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return metrics.Document{}, err
	}
	defer conn.Close(ctx)
	start := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, loc)
	var d metrics.Document
	err = conn.QueryRow(ctx, oracleSQL, start, start.AddDate(0, 0, 1), date.Format(layout.DateFormat)).Scan(
		&d.TotalBills, &d.RefundCount, &d.GrossRevenue, &d.DiscountAmount, &d.RefundAmount, &d.CGSTCollected,
		&d.SGSTCollected, &d.CashCollected, &d.DigitalCollected, &d.ActualServiceCOGS, &d.ActualProductCOGS,
		&d.TotalExpenses, &d.TotalTips)
	if err != nil {
		return metrics.Document{}, fmt.Errorf("recompute %s: %w", date.Format(layout.DateFormat), err)
	}
	d.Derive()
	return d, nil
}

// sameFigures lists the figures where got differs from want.
func sameFigures(got, want metrics.Document) []string {
	var diffs []string
	g, w := got.Values(), want.Values()
	for i, name := range metrics.FieldNames {
		switch name {
		case "schema_version", "branch_id", "branch_name", "summary_date", "generated_at", "is_final", "currency":
			continue
		}
		if g[i] != w[i] {
			diffs = append(diffs, fmt.Sprintf("%s %s, recomputed %s", name, g[i], w[i]))
		}
	}
	return diffs
}

// bucketObject is one object with its metadata.
type bucketObject struct {
	store.ObjectInfo
	SHA256 string // of the content, as read back
}

// readBucket lists every object and reads each one's content and
// metadata with the owner's key (no faults).
func readBucket(t *testing.T, st *store.S3) map[string]bucketObject {
	t.Helper()
	ctx := context.Background()
	out := map[string]bucketObject{}
	for o, err := range store.All(ctx, st, store.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		rc, info, err := st.Get(ctx, o.Key)
		if err != nil {
			t.Fatalf("read %s: %v", o.Key, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", o.Key, err)
		}
		info.Size = n
		out[o.Key] = bucketObject{ObjectInfo: info, SHA256: hex.EncodeToString(h.Sum(nil))}
	}
	return out
}

// backupProblem says what is wrong with a stored backup ("" when its
// metadata gives its true size and SHA-256).
func backupProblem(o bucketObject) string {
	size, err := strconv.ParseInt(o.Metadata["size"], 10, 64)
	switch {
	case o.Metadata["sha256"] == "":
		return "no sha256 metadata"
	case o.Metadata["sha256"] != o.SHA256:
		return fmt.Sprintf("sha256 metadata %s, content %s", o.Metadata["sha256"], o.SHA256)
	case err != nil || size != o.Size:
		return fmt.Sprintf("size metadata %q, content %d bytes", o.Metadata["size"], o.Size)
	}
	return ""
}

// unfinishedUploads lists the multipart uploads in progress in the bucket.
func unfinishedUploads(t *testing.T, st *store.S3) []string {
	t.Helper()
	out, err := st.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(st.Bucket())})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchUpload") {
			return nil // gofakes3 answers an empty listing so
		}
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// backupNight is the business night a dump belongs to: its date when
// taken in the evening, the day before when taken after midnight.
func backupNight(key string, loc *time.Location) (string, string, bool) {
	k, err := layout.ParseKey(key, loc)
	if err != nil || k.Kind != layout.BackupsDir {
		return "", "", false
	}
	night := k.Date
	if night.Hour() < 12 {
		night = night.AddDate(0, 0, -1)
	}
	return k.Branch, night.Format(layout.DateFormat), true
}

// dumpName is the file name of a backup key.
func dumpName(key string) string { return path.Base(key) }
