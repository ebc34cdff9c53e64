package syncer

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/bundle"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Monthly bundles ({branch}/metrics/monthly/YYYY-MM.json, shared/bundle)
// spare a full sync one GET per daily document: the daily keys are still
// listed, and a month's daily documents that need reading are taken from
// its bundle when the bundle holds them as they are now. A daily document
// is read alone when its month has no bundle, when the bundle lacks it, or
// when it was written after the bundle: listed later than the bundle, of
// another size, or, where the listing's ETag is a plain MD5 of the object
// (a single-part upload, as documents are), of another MD5 than the
// bundle's bytes. Each document taken from a bundle is judged exactly as
// one read alone. A bad bundle is reported like a bad document (under its
// own key, with no date) and its month's documents are read alone. An
// incremental sync never reads bundles: it lists only recent daily keys.

// bundleWork is one month's bundle and the daily documents waiting on it.
type bundleWork struct {
	daily []*fetchJob
}

// minBundled is the fewest daily documents to read for which a month's
// bundle is read instead (for one, the document alone is as cheap).
const minBundled = 2

// bundleKey parses a monthly bundle key of branch; ok is false for
// anything else.
func bundleKey(branch, key string) (month string, ok bool) {
	k, err := layout.ParseKey(key, time.UTC)
	if err != nil || k.Kind != layout.MonthlyKind || k.Branch != branch {
		return "", false
	}
	return k.Date.Format(layout.MonthFormat), true
}

// splitBundles takes the monthly bundle keys out of a fully listed
// metrics section: it returns the other objects and a job per bundle.
func splitBundles(w *branchWork, objs []store.ObjectInfo) ([]store.ObjectInfo, map[string]*fetchJob) {
	var bundles map[string]*fetchJob
	rest := objs[:0:0]
	for _, o := range objs {
		if m, ok := bundleKey(w.id, o.Key); ok {
			if bundles == nil {
				bundles = map[string]*fetchJob{}
			}
			bundles[m] = &fetchJob{branch: w.id, info: o, bundle: &bundleWork{}}
			continue
		}
		rest = append(rest, o)
	}
	return rest, bundles
}

// queueBundles sends each month's waiting documents: through its bundle
// when there are enough of them and the bundle is not known bad, else alone.
func (s *Syncer) queueBundles(ctx context.Context, w *branchWork, bundles map[string]*fetchJob, jobs chan<- *fetchJob) {
	months := make([]string, 0, len(bundles))
	for m := range bundles {
		months = append(months, m)
	}
	sortStrings(months)
	for _, m := range months {
		bj := bundles[m]
		daily := bj.bundle.daily
		if len(daily) == 0 {
			continue // every document of the month unchanged: nothing to read
		}
		w.metrics = append(w.metrics, bj)
		if len(daily) < minBundled || s.reuse(w.prev, bj) {
			bj.bundle.daily = nil
			if bj.bad == nil {
				bj.gone = true // not read: nothing to record
			}
			for _, j := range daily {
				send(ctx, jobs, j)
			}
			continue
		}
		send(ctx, jobs, bj)
	}
}

// send queues j, or records that the sync ended first.
func send(ctx context.Context, jobs chan<- *fetchJob, j *fetchJob) {
	select {
	case jobs <- j:
	case <-ctx.Done():
		j.err = ctx.Err()
		if j.bundle != nil {
			for _, d := range j.bundle.daily {
				d.err = ctx.Err()
			}
		}
	}
}

// fetchBundle reads a bundle and fills its waiting documents from it,
// reading alone each one it cannot vouch for (all of them when the bundle
// is bad or cannot be read).
func (s *Syncer) fetchBundle(ctx context.Context, j *fetchJob, buf *bytes.Buffer) {
	b, err := s.readBundle(ctx, j, buf)
	if err != nil {
		if j.bad == nil {
			// Unreadable (not bad content): the documents alone will do.
			j.gone = true
			s.o.Logger.Warn("monthly bundle not read: reading its documents alone", "branch", j.branch, "key", j.info.Key, "err", err)
		}
		for _, d := range j.bundle.daily {
			s.fetch(ctx, d, buf)
		}
		return
	}
	for _, d := range j.bundle.daily {
		e, ok := b.Find(d.date)
		if !ok || !sameObject(d.info, j.info, e) {
			s.fetch(ctx, d, buf)
			continue
		}
		d.fromBundle = true
		s.judge(d, e.Body)
	}
}

// readBundle downloads and checks j's bundle. Bad content sets j.bad and
// returns an error; a failed download returns an error only.
func (s *Syncer) readBundle(ctx context.Context, j *fetchJob, buf *bytes.Buffer) (bundle.Bundle, error) {
	bad := func(err error) (bundle.Bundle, error) {
		j.bad = &index.BadDoc{Key: j.info.Key, ETag: j.info.ETag, Size: j.info.Size, LastModified: j.info.LastModified,
			Reason: fmt.Sprintf("%v (its month's documents were read one by one)", err)}
		return bundle.Bundle{}, err
	}
	if j.info.Size > bundle.MaxBytes {
		return bad(fmt.Errorf("%w: %d bytes, limit %d (not read)", bundle.ErrTooLarge, j.info.Size, bundle.MaxBytes))
	}
	rc, _, err := s.st.Get(ctx, j.info.Key)
	if err != nil {
		return bundle.Bundle{}, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(rc, bundle.MaxBytes+1))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return bundle.Bundle{}, fmt.Errorf("get %s: %w", j.info.Key, err)
	}
	b, err := bundle.Unmarshal(buf.Bytes())
	if err == nil {
		err = b.Validate()
	}
	if err == nil {
		err = b.CheckKey(j.info.Key)
	}
	if err != nil {
		return bad(err)
	}
	return b, nil
}

// sameObject reports whether the daily object listed as daily is, as far
// as the listing tells, the bytes of e in the bundle listed as bundle.
func sameObject(daily, bundleInfo store.ObjectInfo, e bundle.Entry) bool {
	if daily.LastModified.After(bundleInfo.LastModified) || daily.Size != int64(len(e.Body)) {
		return false
	}
	if etag := strings.Trim(daily.ETag, `"`); isPlainMD5(etag) {
		sum := md5.Sum(e.Body)
		return strings.EqualFold(etag, hex.EncodeToString(sum[:]))
	}
	return true
}

// isPlainMD5 reports whether an ETag is an MD5 of the object (32 hex
// digits); a multipart upload's ETag ("...-N") is not.
func isPlainMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	for _, c := range etag {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
