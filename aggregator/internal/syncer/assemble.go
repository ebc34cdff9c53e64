package syncer

import (
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// assemble builds the branch's new state from its previous one and what
// this sync listed and downloaded. It returns nil for a branch to drop (no
// longer in the bucket and not expected).
func (s *Syncer) assemble(w *branchWork, now time.Time, st *Stats) (*index.Branch, []error) {
	expected := s.expected[w.id]
	if w.listErr != nil {
		if w.prev != nil {
			return w.prev, []error{w.listErr}
		}
		return &index.Branch{ID: w.id, Expected: expected}, []error{w.listErr}
	}
	st.Listed += w.listed
	st.Downloaded += w.downloaded
	st.NewBad += w.newBad
	if unchangedIncremental(w) && w.prev.Expected == expected && w.proof == w.prev.Proof && len(w.proofErrs) == 0 {
		return w.prev, nil // nothing new: share the branch without copying it
	}
	b := &index.Branch{ID: w.id, Expected: expected}
	prev := w.prev
	if prev == nil {
		prev = &index.Branch{ID: w.id}
	}
	// Documents and bad documents outside the listed section stay as they were.
	docs := index.NewDaysBuilder(w.id, &prev.Docs)
	if !w.full {
		if w.metricsCut != "" {
			lo, hi := prev.DocSpan("", w.metricsCut)
			docs.AddRange(&prev.Docs, lo, hi)
		}
		// Bundles are not listed by an incremental sync: a bad one stays
		// reported until the next full sync.
		monthly, _ := layout.MonthlyPrefix(w.id)
		for _, bd := range prev.Bad {
			if bd.Key <= w.metricsAfter || strings.HasPrefix(bd.Key, monthly) {
				b.Bad = append(b.Bad, bd)
			}
		}
	}
	errs := w.proofErrs
	b.Proof = w.proof
	for _, j := range w.metrics {
		if j.err != nil {
			errs = append(errs, j.err)
			keepPrevious(b, prev, docs, j)
			continue
		}
		if j.gone {
			continue
		}
		switch {
		case j.reused:
		case j.bundle != nil:
			st.Bundles++
		case j.fromBundle:
			st.FromBundle++
		default:
			st.Downloaded++
		}
		switch {
		case j.reused && j.bad == nil:
			docs.AddFrom(&prev.Docs, j.prevAt)
		case j.doc != nil:
			d := *j.doc
			d.BranchID = b.ID
			docs.Add(d)
		case j.bad != nil:
			b.Bad = append(b.Bad, *j.bad)
			if !j.reused {
				st.NewBad++
				s.o.Logger.Warn("bad metrics document", "branch", w.id, "date", j.bad.Date, "key", j.bad.Key, "reason", j.bad.Reason)
			}
		}
	}
	b.Docs = docs.Build()
	sortBad(b.Bad)

	for _, bb := range w.badBackups {
		if !knownBadBackup(prev, bb) {
			st.NewBad++
			s.o.Logger.Warn("bad backup name", "branch", w.id, "key", bb.Key, "reason", bb.Reason)
		}
	}
	if w.full {
		b.Backups = w.backups
		b.BadBackups = w.badBackups
		b.Ignored = w.ignored
		b.FullListedAt = now
	} else {
		b.Backups = make([]index.Backup, 0, len(prev.Backups)+len(w.backups))
		for _, bk := range prev.Backups {
			if bk.Key <= w.backupsAfter {
				b.Backups = append(b.Backups, bk)
			}
		}
		b.Backups = append(b.Backups, w.backups...)
		for _, bb := range prev.BadBackups {
			if bb.Key <= w.backupsAfter {
				b.BadBackups = append(b.BadBackups, bb)
			}
		}
		b.BadBackups = append(b.BadBackups, w.badBackups...)
		b.Ignored = prev.Ignored
		b.FullListedAt = prev.FullListedAt
	}
	if w.full && !expected && !holdsBranchKey(b) {
		if w.prev != nil {
			st.Changed = true
		}
		// Gone from the bucket, or never a branch: a folder made by a
		// bucket browser (B2's .bzEmpty), or other objects, but no
		// metrics document name and no dump. Counted, never alerted on.
		w.stray = len(b.Bad) > 0 || b.Ignored > 0
		return nil, errs
	}
	if w.prev != nil && !changed(w.prev, b) {
		return w.prev, errs // share the unchanged branch with the previous index
	}
	st.Changed = true
	return b, errs
}

// holdsBranchKey reports whether a fully listed prefix holds at least one
// key of a branch: a metrics document name (good or bad content) or a
// dump, or a key shaped like one whose date is out of range (year 9999:
// shown as a bad document). Only then is a prefix that EXPECTED_BRANCHES
// does not name a branch.
func holdsBranchKey(b *index.Branch) bool {
	if b.Docs.Len() > 0 || len(b.Backups) > 0 {
		return true
	}
	for _, bd := range b.Bad {
		if bd.Date != "" || layout.HasKeyShape(bd.Key) {
			return true
		}
	}
	for _, bb := range b.BadBackups {
		if layout.HasKeyShape(bb.Key) {
			return true
		}
	}
	return false
}

// changed reports whether b differs from prev in anything but the
// identity of its slices.
func changed(prev, b *index.Branch) bool {
	if prev.Expected != b.Expected || prev.Ignored != b.Ignored || !prev.FullListedAt.Equal(b.FullListedAt) || prev.Proof != b.Proof ||
		prev.Docs.Len() != b.Docs.Len() || len(prev.Bad) != len(b.Bad) || len(prev.Backups) != len(b.Backups) ||
		len(prev.BadBackups) != len(b.BadBackups) {
		return true
	}
	for i := range b.BadBackups {
		if prev.BadBackups[i].Key != b.BadBackups[i].Key || prev.BadBackups[i].ETag != b.BadBackups[i].ETag {
			return true
		}
	}
	for i := range b.Docs.Len() {
		if !b.Docs.SameAs(i, &prev.Docs) {
			return true
		}
	}
	for i := range b.Bad {
		if prev.Bad[i].Key != b.Bad[i].Key || prev.Bad[i].ETag != b.Bad[i].ETag {
			return true
		}
	}
	for i := range b.Backups {
		p, n := prev.Backups[i], b.Backups[i]
		if p.Key != n.Key || p.ETag != n.ETag || p.SHA256 != n.SHA256 || p.MetaRead != n.MetaRead {
			return true
		}
	}
	return false
}

// unchangedIncremental reports that an incremental listing found exactly
// what the previous index had: no new backup, every document unchanged.
func unchangedIncremental(w *branchWork) bool {
	if w.full || w.prev == nil || len(w.backups) != 0 || len(w.badBackups) != 0 || len(w.metrics) != w.prevSection {
		return false
	}
	for _, j := range w.metrics {
		if !j.reused {
			return false
		}
	}
	return true
}

// knownBadBackup reports whether prev already had bb, unchanged.
func knownBadBackup(prev *index.Branch, bb index.BadDoc) bool {
	for _, p := range prev.BadBackups {
		if p.Key == bb.Key && p.ETag == bb.ETag {
			return true
		}
	}
	return false
}

// keepPrevious keeps the previous version of an object whose download failed.
func keepPrevious(b, prev *index.Branch, docs *index.DaysBuilder, j *fetchJob) {
	if j.date != "" {
		if i := prev.DocAt(j.date); i >= 0 {
			docs.AddFrom(&prev.Docs, i)
			return
		}
	}
	for _, bd := range prev.Bad {
		if bd.Key == j.info.Key {
			b.Bad = append(b.Bad, bd)
			return
		}
	}
}

func sortBad(bs []index.BadDoc) {
	cmp := func(a, b index.BadDoc) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(bs, cmp) {
		slices.SortStableFunc(bs, cmp)
	}
}
