package push

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// MetricConflicts counts documents found written by another instance.
const MetricConflicts = "branchwatch_agent_instance_conflicts_total"

// Same reports whether the stored document of doc's date, as listed in
// have, holds exactly the bytes Push would write for doc. A size that
// differs settles it; an ETag that is an MD5 (what S3 and B2 give a
// single-part upload, as a metrics document always is) is compared with
// the bytes' MD5; otherwise (a multipart ETag, or local-only mode) the
// object is read back and compared.
func (p *Publisher) Same(ctx context.Context, doc metrics.Document, have Existing) (same bool, err error) {
	body, err := doc.Marshal()
	if err != nil {
		return false, fmt.Errorf("compare metrics of %s: %w", doc.SummaryDate, err)
	}
	if have.Size != int64(len(body)) {
		return false, nil
	}
	if isMD5(have.ETag) {
		sum := md5.Sum(body)
		return have.ETag == hex.EncodeToString(sum[:]), nil
	}
	var rc io.ReadCloser
	if p.st == nil {
		rc, err = os.Open(filepath.Join(p.dir, doc.SummaryDate+layout.MetricsExt))
	} else {
		date, perr := layout.ParseDate(doc.SummaryDate)
		if perr != nil {
			return false, fmt.Errorf("compare metrics: %w", perr)
		}
		key, kerr := layout.MetricsKey(p.branch, date)
		if kerr != nil {
			return false, fmt.Errorf("compare metrics: %w", kerr)
		}
		var info store.ObjectInfo
		if rc, info, err = p.st.Get(ctx, key); err == nil {
			// A document that differs is pushed again, and the push
			// looks at its writer: noted here only when it stays.
			defer func() {
				if same {
					p.noteWriter(key, info)
				}
			}()
		}
	}
	if errors.Is(err, os.ErrNotExist) || store.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("compare metrics of %s: %w", doc.SummaryDate, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(body))+1))
	if err != nil {
		return false, fmt.Errorf("compare metrics of %s: read back: %w", doc.SummaryDate, err)
	}
	return bytes.Equal(got, body), nil
}

// isMD5 reports whether an ETag is a plain MD5 (32 lower-case hex
// digits); a multipart ETag ends in "-N", and the directory store's
// stand-in for a file without sidecar holds a '-' too.
func isMD5(etag string) bool {
	return len(etag) == md5.Size*2 && strings.Trim(etag, "0123456789abcdef") == ""
}

// checkWriter reads the metadata of the object about to be replaced (the
// catch-up's read-backs look at it too, noteWriter): one
// written by another instance within instance.Window is a second agent
// with this BRANCH_ID, logged as an error and counted. Nothing stops the
// push (the document is this agent's to write); a failed look is only
// logged.
func (p *Publisher) checkWriter(ctx context.Context, key string) {
	if p.Instance == "" {
		return
	}
	info, err := p.st.Stat(ctx, key)
	if store.IsNotFound(err) {
		return
	}
	if err != nil {
		p.logger.Warn("could not read the metadata of the document about to be replaced", "key", key, "err", err)
		return
	}
	p.noteWriter(key, info)
}

// noteWriter logs and counts info, the object at key, when another
// instance wrote it within instance.Window.
func (p *Publisher) noteWriter(key string, info store.ObjectInfo) {
	if p.Instance == "" {
		return
	}
	other := info.Metadata[instance.MetadataKey]
	if other == "" || instance.Key(other) == instance.Key(p.Instance) {
		return
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if age := now().Sub(info.LastModified); age > instance.Window {
		return
	}
	if instance.Validate(other) != nil {
		other = instance.SafeHost(other) // a hostile value stays one short token
	}
	p.conflicts.Add(1)
	p.logger.Error("another agent instance wrote this branch's document recently: two agents share this BRANCH_ID and overwrite each other",
		"key", key, "other_instance", other, "this_instance", p.Instance,
		"written_at", info.LastModified.UTC().Format(time.RFC3339))
}

// Conflicts is how many documents this process found written recently by
// another instance.
func (p *Publisher) Conflicts() int64 { return p.conflicts.Load() }

// Collector serves Conflicts on /metrics.
func (p *Publisher) Collector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricConflicts,
		Help: "Metrics documents found written within the last 7 days by another agent instance (same BRANCH_ID)."},
		func() float64 { return float64(p.conflicts.Load()) })
}
