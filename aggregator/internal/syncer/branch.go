package syncer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// branchWork is one branch's part of a sync.
type branchWork struct {
	id   string
	prev *index.Branch // nil when the branch is new
	full bool

	listErr error
	// metricsAfter and backupsAfter bound the listed sections: every key
	// of the section greater than them was listed ("" for the whole section).
	metricsAfter string
	metricsCut   string // the date of metricsAfter: later documents were listed
	prevSection  int    // documents and bad ones the previous index had in the listed section
	backupsAfter string
	metrics      []*fetchJob // in key order
	backups      []index.Backup
	badBackups   []index.BadDoc
	ignored      int
	listed       int
	// stray is set by assemble for a fully listed prefix that holds
	// objects but no branch key (see holdsBranchKey).
	stray bool

	// proofObjs are the listed drill records, manifests and agent status;
	// proof what readProof made of them (prev's when unchanged).
	proofObjs  []store.ObjectInfo
	proof      *index.Proof
	proofErrs  []error
	downloaded int
	newBad     int
}

// fetchJob is one listed metrics object and what became of it.
type fetchJob struct {
	branch string
	info   store.ObjectInfo
	date   string // from the key; "" when the key is not a metrics key

	doc        *index.Doc
	prevAt     int // with reused and no bad: the document's position in the previous Docs
	bad        *index.BadDoc
	bundle     *bundleWork // set for a monthly bundle's job
	fromBundle bool        // doc or bad came from the month's bundle
	reused     bool        // unchanged since the previous sync: prevAt or bad is the old one
	gone       bool        // vanished between listing and download
	err        error       // download failed: keep the previous version
}

// list lists the branch's sections and queues the downloads it needs.
func (s *Syncer) list(ctx context.Context, w *branchWork, jobs chan<- *fetchJob) {
	if w.full {
		prefix, _ := layout.BranchPrefix(w.id)
		page := 1000
		if w.prev != nil {
			page = min(1000, w.prev.Docs.Len()+len(w.prev.Bad)+len(w.prev.Backups)+w.prev.Ignored+64)
		}
		var objs []store.ObjectInfo
		err := s.walk(ctx, prefix, prefix, page, func(o store.ObjectInfo) bool { objs = append(objs, o); return true })
		if err != nil {
			w.listErr = &OpError{What: "list the branch " + w.id + " in " + s.o.BucketName, Err: err}
			return
		}
		s.listedAll(ctx, w, objs, jobs)
		return
	}
	mp, _ := layout.MetricsPrefix(w.id)
	bp, _ := layout.BackupsPrefix(w.id)
	var metricsObjs []store.ObjectInfo
	w.backupsAfter = bp
	page := 1000
	// Objects dated in the future must not move the start: the real
	// ones after them would wait for the next full sync.
	present, _ := w.prev.Present(s.o.Now(), w.prev.Zone(s.o.Location))
	if nb := present.LatestBackup(); nb != nil {
		w.backupsAfter, page = nb.Key, 4
	}
	// The drill records follow the backups in key order: one walk lists
	// the new backups, their manifests and every drill record.
	if w.prev.Proof != nil {
		page = min(1000, page+len(w.prev.Proof.Drills))
	}
	dp, _ := layout.DrillsPrefix(w.id)
	bprefix, _ := layout.BranchPrefix(w.id)
	err := s.walkUntil(ctx, bprefix, w.backupsAfter, mp, page, func(o store.ObjectInfo) bool {
		w.listed++
		switch {
		case strings.HasPrefix(o.Key, dp):
			w.proofObjs = append(w.proofObjs, o)
		case !strings.HasPrefix(o.Key, bp):
		case !w.addBackup(o) && isManifest(o.Key):
			w.proofObjs = append(w.proofObjs, o)
		}
		return true
	})
	if err == nil {
		w.metricsAfter, w.metricsCut, w.prevSection = s.metricsWindow(w.id, w.prev, present)
		page := min(1000, w.prevSection+8)
		// Bundles sort after every daily key: an incremental sync stops there.
		monthly, _ := layout.MonthlyPrefix(w.id)
		err = s.walk(ctx, mp, w.metricsAfter, page, func(o store.ObjectInfo) bool {
			if o.Key >= monthly {
				return false
			}
			w.listed++
			metricsObjs = append(metricsObjs, o)
			return true
		})
	}
	if err != nil {
		w.listErr = &OpError{What: "list the branch " + w.id + " in " + s.o.BucketName, Err: err}
		return
	}
	s.queue(ctx, w, metricsObjs, jobs)
}

// listedAll sorts every object of a fully listed branch into metrics
// documents, backups and ignored objects, and queues the downloads.
func (s *Syncer) listedAll(ctx context.Context, w *branchWork, objs []store.ObjectInfo, jobs chan<- *fetchJob) {
	mp, _ := layout.MetricsPrefix(w.id)
	bp, _ := layout.BackupsPrefix(w.id)
	var metricsObjs []store.ObjectInfo
	for _, o := range objs {
		w.listed++
		switch {
		case strings.HasPrefix(o.Key, mp):
			metricsObjs = append(metricsObjs, o)
		case strings.HasPrefix(o.Key, bp):
			if !w.addBackup(o) {
				if isManifest(o.Key) {
					w.proofObjs = append(w.proofObjs, o)
				} else {
					w.ignored++
				}
			}
		case proofKind(w.id, o.Key) != "":
			w.proofObjs = append(w.proofObjs, o)
		default:
			w.ignored++
		}
	}
	s.queue(ctx, w, metricsObjs, jobs)
}

// queue reads the newest backup's checksum and queues the metrics
// documents that are new or changed for download.
func (s *Syncer) queue(ctx context.Context, w *branchWork, metricsObjs []store.ObjectInfo, jobs chan<- *fetchJob) {
	s.readNewestBackupMeta(ctx, w)
	s.readProof(ctx, w)
	metricsObjs, bundles := splitBundles(w, metricsObjs)
	for _, o := range metricsObjs {
		j := &fetchJob{branch: w.id, info: o}
		w.metrics = append(w.metrics, j)
		if k, err := layout.ParseKey(o.Key, time.UTC); err == nil && k.Kind == layout.MetricsDir {
			j.date = index.DateString(k.Date)
		}
		switch {
		case s.reuse(w.prev, j):
		case j.date == "":
			j.bad = &index.BadDoc{Key: o.Key, Reason: metricsNameReason(o.Key), ETag: o.ETag, Size: o.Size, LastModified: o.LastModified}
		case o.Size > metrics.MaxDocumentBytes:
			// Refused unread: the listing's size is enough.
			j.bad = &index.BadDoc{Key: o.Key, Date: j.date, ETag: o.ETag, Size: o.Size, LastModified: o.LastModified,
				Reason: fmt.Sprintf("%v: %d bytes, limit %d (not read)", metrics.ErrTooLarge, o.Size, metrics.MaxDocumentBytes)}
		case bundles[j.date[:len(layout.MonthFormat)]] != nil:
			bj := bundles[j.date[:len(layout.MonthFormat)]]
			bj.bundle.daily = append(bj.bundle.daily, j)
		default:
			send(ctx, jobs, j)
		}
	}
	s.queueBundles(ctx, w, bundles, jobs)
}

// metricsNameReason says why a key under metrics/ is not a document name.
func metricsNameReason(key string) string {
	if layout.HasKeyShape(key) {
		if _, err := layout.ParseKey(key, time.UTC); err != nil {
			msg := err.Error()
			if i := strings.LastIndex(msg, ": date "); i >= 0 && strings.Contains(msg, "year outside") {
				return "the name's " + msg[i+2:] // "date 9999-12-31: year outside 1970-2999"
			}
		}
	}
	return "not a metrics document name ({YYYY-MM-DD}.json)"
}

// metricsWindow is the start-after key of an incremental metrics listing,
// its date, and how many documents (good or bad) the branch had after it.
// The window ends at the newest document of present (prev without its
// future-dated objects).
func (s *Syncer) metricsWindow(id string, prev, present *index.Branch) (string, string, int) {
	mp, _ := layout.MetricsPrefix(id)
	newest := ""
	if d := present.Latest(); d != nil {
		newest = d.SummaryDate
	}
	for _, b := range present.Bad {
		if b.Date > newest {
			newest = b.Date
		}
	}
	t, err := layout.ParseDate(newest)
	if err != nil {
		return mp, "", prev.Docs.Len() + len(prev.Bad)
	}
	cut := t.AddDate(0, 0, -s.o.RelistDays-1)
	after, _ := layout.MetricsKey(id, cut)
	cutDate := index.DateString(cut)
	lo, hi := prev.DocSpan(index.DateString(cut.AddDate(0, 0, 1)), "")
	n := hi - lo
	for _, b := range prev.Bad {
		if b.Date > cutDate {
			n++
		}
	}
	return after, cutDate, n
}

// walk lists the keys after `after` that start with section, calling fn
// for each in key order until fn returns false. It lists without a prefix, from start-after, one
// bounded page at a time: the server returns the next keys in bucket order
// and stops after the page, and the first key beyond the section ends the
// walk. (A prefix listing costs some servers, gofakes3 among them, a scan
// to the end of the bucket for every request.)
func (s *Syncer) walk(ctx context.Context, section, after string, pageSize int, fn func(store.ObjectInfo) bool) error {
	return s.walkUntil(ctx, section, after, "", pageSize, fn)
}

// walkUntil is walk that also ends at the first key at or after until
// ("" for none).
func (s *Syncer) walkUntil(ctx context.Context, section, after, until string, pageSize int, fn func(store.ObjectInfo) bool) error {
	opts := store.ListOptions{StartAfter: after, MaxKeys: pageSize}
	for {
		page, err := s.st.List(ctx, opts)
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if !strings.HasPrefix(o.Key, section) || until != "" && o.Key >= until || !fn(o) {
				return nil
			}
		}
		if page.NextToken == "" {
			return nil
		}
		opts.Token, opts.MaxKeys = page.NextToken, 1000
	}
}

// reuse fills j from the previous sync when its object is unchanged.
func (s *Syncer) reuse(prev *index.Branch, j *fetchJob) bool {
	if prev == nil {
		return false
	}
	if j.date != "" {
		if i := prev.DocAt(j.date); i >= 0 {
			if d := prev.Docs.At(i); d.ETag == j.info.ETag && d.Size == j.info.Size {
				j.prevAt, j.reused = i, true
				return true
			}
		}
	}
	for i := range prev.Bad {
		if b := &prev.Bad[i]; b.Key == j.info.Key && b.ETag == j.info.ETag && b.Size == j.info.Size {
			j.bad, j.reused = b, true
			return true
		}
	}
	return false
}

// readAttempts is how often a download whose body broke off is tried; the
// store retries failed requests itself, but not a body cut mid-way.
const readAttempts = 3

// fetch downloads and judges one document, reading it into buf (one
// buffer per download worker).
func (s *Syncer) fetch(ctx context.Context, j *fetchJob, buf *bytes.Buffer) {
	var (
		err  error
		info store.ObjectInfo
	)
	for attempt := 1; attempt <= readAttempts; attempt++ {
		var rc io.ReadCloser
		rc, info, err = s.st.Get(ctx, j.info.Key)
		if store.IsNotFound(err) {
			j.gone = true
			return
		}
		if err != nil {
			j.err = &OpError{What: "read " + j.info.Key, Err: err}
			return
		}
		buf.Reset()
		_, err = buf.ReadFrom(io.LimitReader(rc, metrics.MaxDocumentBytes+1))
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Duration(attempt) * 100 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if err != nil {
		j.err = &OpError{What: "read " + j.info.Key, Err: err} // a read error, not bad content
		return
	}
	// Unmarshal copies what it keeps: buf is reused for the next document.
	s.judge(j, buf.Bytes())
	if j.doc != nil {
		j.doc.Instance = instanceOf(info)
	}
}

// judge decodes and checks one document's bytes, as metrics-v1.md
// "Reading older and newer documents" says, filling j.doc or j.bad.
func (s *Syncer) judge(j *fetchJob, data []byte) {
	d, err := metrics.Unmarshal(data)
	if err == nil {
		err = d.Validate()
	}
	if err == nil {
		err = d.CheckKey(j.info.Key)
	}
	if err == nil {
		// Money is summed as paise: a document in another currency is
		// bad input, never added to rupee totals (metrics package docs).
		err = d.CheckCurrency()
	}
	if err != nil {
		j.bad = &index.BadDoc{Key: j.info.Key, Date: j.date, Reason: err.Error(), ETag: j.info.ETag, Size: j.info.Size, LastModified: j.info.LastModified}
		return
	}
	j.doc = &index.Doc{Document: d, ETag: j.info.ETag, Size: j.info.Size}
}

// readNewestBackupMeta reads the checksum of the branch's newest backup
// (one HEAD, only when that backup is new since the previous sync).
func (s *Syncer) readNewestBackupMeta(ctx context.Context, w *branchWork) {
	if len(w.backups) == 0 {
		return
	}
	nb := &w.backups[len(w.backups)-1]
	if w.prev != nil {
		if pb, ok := w.prev.Backup(nb.Name); ok && pb.ETag == nb.ETag && pb.MetaRead {
			nb.SHA256, nb.Instance, nb.MetaRead = pb.SHA256, pb.Instance, true
			return
		}
	}
	info, err := s.st.Stat(ctx, nb.Key)
	if err != nil {
		s.o.Logger.Warn("read backup metadata", "branch", w.id, "key", nb.Key, "err", err)
		return
	}
	nb.SHA256, nb.Instance, nb.MetaRead = strings.ToLower(info.Metadata[SHA256Meta]), instanceOf(info), true
}

// instanceOf is the agent instance id in an object's metadata; a value
// that is no instance id is kept as one short safe token (it is shown).
func instanceOf(info store.ObjectInfo) string {
	id := info.Metadata[instance.MetadataKey]
	if id == "" || instance.Validate(id) == nil {
		return id
	}
	return instance.SafeHost(id)
}

// addBackup files a listed object of the backups folder: a dump of the
// branch, or a bad one when it is named like a dump (.dump, .dump.age)
// but the name cannot be read (another branch's, a malformed or
// out-of-range timestamp). It returns false for any other object.
func (w *branchWork) addBackup(o store.ObjectInfo) bool {
	k, err := layout.ParseKey(o.Key, time.UTC)
	if err == nil && k.Kind == layout.BackupsDir {
		w.backups = append(w.backups, index.Backup{Key: o.Key, Name: k.Dump.Name, Stamp: k.Dump.Taken, Encrypted: k.Dump.Encrypted,
			Size: o.Size, ETag: o.ETag, LastModified: o.LastModified})
		return true
	}
	if !strings.HasSuffix(o.Key, layout.DumpExt) && !strings.HasSuffix(o.Key, layout.EncryptedDumpExt) {
		return false
	}
	reason := "not a dump name of this branch ({branch}_{YYYYMMDD}_{HHMMSS}.dump)"
	if err != nil {
		reason = strings.TrimPrefix(err.Error(), layout.ErrBadKey.Error()+": ")
	}
	w.badBackups = append(w.badBackups, index.BadDoc{Key: o.Key, Reason: reason, ETag: o.ETag, Size: o.Size, LastModified: o.LastModified})
	return true
}

// isManifest reports whether key is a dump's manifest: it describes a
// backup and is not one (a dump without one is a backup all the same).
func isManifest(key string) bool {
	k, err := layout.ParseKey(key, time.UTC)
	return err == nil && k.Kind == layout.ManifestKind
}

func sortStrings(s []string) { sort.Strings(s) }
