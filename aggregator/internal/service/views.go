package service

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/business"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// BackupInfo is one backup as shown.
type BackupInfo struct {
	Key          string    `json:"key"`
	Name         string    `json:"name"`
	Time         time.Time `json:"time"` // the dump's start, in the branch's zone
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256,omitempty"`
	Encrypted    bool      `json:"encrypted"`
	LastModified time.Time `json:"last_modified"`
	// Manifest is the dump's manifest (row counts taken in the dump's
	// snapshot), nil when the dump has none (older agents).
	Manifest *ManifestInfo `json:"manifest,omitempty"`
}

// BadDocument is one refused metrics object.
type BadDocument struct {
	Branch       string    `json:"branch_id"`
	Key          string    `json:"key"`
	Date         string    `json:"date,omitempty"`
	Reason       string    `json:"reason"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
}

// BranchStatus is one branch on the overview.
type BranchStatus struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Expected bool           `json:"expected"`
	Zone     string         `json:"zone"`
	Location *time.Location `json:"-"`
	// Metrics and Backup are the two checks, judged now, without the
	// future-dated objects.
	Metrics freshness.Check `json:"metrics_check"`
	Backup  freshness.Check `json:"backup_check"`
	// FutureDated is down while the branch holds objects dated more than
	// a day past the aggregator's clock, listed in FutureObjects.
	FutureDated freshness.Check `json:"future_dated_check"`
	// Drill is the restore drill check; Agent judges the agent's status
	// document (disk space, doctor checks, whether it still reports).
	Drill freshness.Check `json:"drill_check"`
	Agent freshness.Check `json:"agent_check"`
	// LastDrill is the newest restore drill; AgentVersion the agent's
	// version from its status document ("" without one).
	LastDrill     *DrillInfo     `json:"last_drill,omitempty"`
	AgentVersion  string         `json:"agent_version,omitempty"`
	FutureObjects []FutureObject `json:"future_dated_objects,omitempty"`
	// Instances is down while two agent instances (same BRANCH_ID) wrote
	// the branch's recent objects.
	Instances freshness.Check `json:"instances_check"`
	// LastMetricsDate is the newest final document's date; Latest that document.
	LastMetricsDate string            `json:"last_metrics_date,omitempty"`
	Latest          *metrics.Document `json:"latest,omitempty"`
	LastBackup      *BackupInfo       `json:"last_backup,omitempty"`
	Documents       int               `json:"documents"`
	BadDocuments    int               `json:"bad_documents"`
	Backups         int               `json:"backups"`
	IgnoredObjects  int               `json:"ignored_objects"`
}

// BranchDetail is one branch's page: its status, every backup (newest
// first) and every bad document.
type BranchDetail struct {
	BranchStatus
	BackupList []BackupInfo `json:"backup_list"`
	// Drills are the restore drills, newest first; AgentStatus the
	// agent's status document (nil without one).
	Drills      []DrillInfo       `json:"drills"`
	AgentStatus *AgentInfo        `json:"agent_status,omitempty"`
	Bad         []BadDocument     `json:"bad_document_list"`
	Current     *metrics.Document `json:"current,omitempty"` // newest document, final or not
}

// IgnoredPrefixes are the bucket's top-level prefixes that are not
// branches (as of the last full sync): not a branch id, or holding no
// metrics document name and no dump (a folder of a bucket browser) while
// not expected. They are counted, and never alerted on.
func (s *Service) IgnoredPrefixes() []string {
	if x := s.idx.Load(); x != nil {
		return x.IgnoredPrefixes
	}
	return nil
}

// Branches is every branch's status, by id.
// An expected branch the index does not hold yet (before the first good
// sync) is listed all the same, its checks unknown with the reason.
func (s *Service) Branches() []BranchStatus {
	x := s.idx.Load()
	now := s.o.Now()
	var out []BranchStatus
	if x != nil {
		out = make([]BranchStatus, 0, len(x.Branches))
		for _, b := range x.Branches {
			out = append(out, s.branchStatus(b, now))
		}
	}
	added := false
	for _, id := range s.o.Syncer.Expected {
		if _, ok := x.Branch(id); !ok {
			out = append(out, s.unknownBranch(id))
			added = true
		}
	}
	if added {
		slices.SortFunc(out, func(a, b BranchStatus) int { return strings.Compare(a.ID, b.ID) })
	}
	return out
}

// unknownBranch is an expected branch not read from the bucket yet.
func (s *Service) unknownBranch(id string) BranchStatus {
	reason := "not read yet: no sync of the bucket has succeeded since the aggregator started"
	if st := s.LastSync(); st.Failures > 0 && !st.LastSuccess.IsZero() {
		reason = "not in the index: the last syncs could not read this branch"
	} else if st.Failures > 0 {
		reason = "not read yet: every sync of the bucket so far has failed (see the sync status)"
	}
	loc := s.o.Location
	return BranchStatus{ID: id, Name: id, Expected: true, Zone: loc.String(), Location: loc,
		Metrics:     freshness.Check{Name: freshness.CheckMetrics, State: freshness.Unknown, Reason: reason},
		Backup:      freshness.Check{Name: freshness.CheckBackup, State: freshness.Unknown, Reason: reason},
		FutureDated: freshness.Check{Name: freshness.CheckFutureDated, State: freshness.Unknown, Reason: reason},
		Drill:       freshness.Check{Name: freshness.CheckDrill, State: freshness.Unknown, Reason: reason},
		Agent:       freshness.Check{Name: freshness.CheckAgent, State: freshness.Unknown, Reason: reason},
		Instances:   freshness.Check{Name: freshness.CheckInstances, State: freshness.Unknown, Reason: reason}}
}

// FutureObject is an object dated more than a day past the aggregator's
// clock: Date is its business date, or its dump's start in the branch's zone.
type FutureObject struct {
	Key  string `json:"key"`
	Kind string `json:"kind"` // "metrics", "bad-metrics" or "backup"
	Date string `json:"date"`
}

func (s *Service) branchStatus(all *index.Branch, now time.Time) BranchStatus {
	loc := all.Zone(s.o.Location)
	b, future := all.Present(now, loc)
	st := BranchStatus{ID: b.ID, Name: b.Name(), Expected: b.Expected, Zone: loc.String(), Location: loc,
		Metrics: s.o.Policy.MetricsCheck(b, loc, now), Backup: s.o.Policy.BackupCheck(b, loc, now),
		FutureDated: freshness.FutureCheck(future, loc, now), FutureObjects: futureObjects(future, loc),
		Instances: freshness.InstanceCheck(b, loc, now),
		Documents: all.Docs.Len(), BadDocuments: len(all.Bad) + len(all.BadBackups) + badProof(all), Backups: len(all.Backups), IgnoredObjects: all.Ignored}
	if d := b.LatestFinal(); d != nil {
		doc := d.Document
		st.Latest, st.LastMetricsDate = &doc, d.SummaryDate
	}
	if nb := b.LatestBackup(); nb != nil {
		bi := backupInfo(*nb, loc)
		st.LastBackup = &bi
	}
	st.Drill = s.o.Policy.DrillCheck(all, loc, now)
	st.Agent = freshness.AgentCheck(all, st.Metrics, loc, now)
	if d := all.Proof.LatestDrill(); d != nil {
		di := drillInfo(*d, loc)
		st.LastDrill = &di
	}
	if a := agentOf(all); a != nil {
		st.AgentVersion = a.AgentVersion
	}
	return st
}

func futureObjects(f index.Future, loc *time.Location) []FutureObject {
	if f.Len() == 0 {
		return nil
	}
	out := make([]FutureObject, 0, f.Len())
	for _, d := range f.Docs {
		key, _ := layout.MetricsKey(d.BranchID, mustDate(d.SummaryDate))
		out = append(out, FutureObject{Key: key, Kind: "metrics", Date: d.SummaryDate})
	}
	for _, bd := range f.Bad {
		out = append(out, FutureObject{Key: bd.Key, Kind: "bad-metrics", Date: bd.Date})
	}
	for _, bk := range f.Backups {
		out = append(out, FutureObject{Key: bk.Key, Kind: "backup", Date: bk.Taken(loc).Format("2006-01-02 15:04")})
	}
	return out
}

func mustDate(s string) time.Time {
	t, _ := layout.ParseDate(s)
	return t
}

func backupInfo(b index.Backup, loc *time.Location) BackupInfo {
	return BackupInfo{Key: b.Key, Name: b.Name, Time: b.Taken(loc), Size: b.Size, SHA256: b.SHA256,
		Encrypted: b.Encrypted, LastModified: b.LastModified}
}

// Branch is one branch's detail; ok is false for an unknown id.
func (s *Service) Branch(id string) (BranchDetail, bool) {
	b, ok := s.idx.Load().Branch(id)
	if !ok {
		if slices.Contains(s.o.Syncer.Expected, id) {
			return BranchDetail{BranchStatus: s.unknownBranch(id), BackupList: []BackupInfo{}, Drills: []DrillInfo{}, Bad: []BadDocument{}}, true
		}
		return BranchDetail{}, false
	}
	d := BranchDetail{BranchStatus: s.branchStatus(b, s.o.Now())}
	for i := len(b.Backups) - 1; i >= 0; i-- {
		bi := backupInfo(b.Backups[i], d.Location)
		if m, ok := b.Proof.Manifest(b.Backups[i].Key); ok {
			withManifest(&bi, m)
		}
		d.BackupList = append(d.BackupList, bi)
	}
	d.Drills = drillHistory(b, d.Location)
	d.AgentStatus = agentInfo(b, d.Location)
	d.Bad = badDocs(b)
	if l := b.Latest(); l != nil {
		doc := l.Document
		d.Current = &doc
	}
	return d, true
}

// badDocs is the branch's bad documents, then its badly named dumps.
func badDocs(b *index.Branch) []BadDocument {
	var proofBad []index.BadDoc
	if b.Proof != nil {
		proofBad = b.Proof.Bad
	}
	out := make([]BadDocument, 0, len(b.Bad)+len(b.BadBackups)+len(proofBad))
	for _, list := range [][]index.BadDoc{b.Bad, b.BadBackups, proofBad} {
		for _, bd := range list {
			out = append(out, BadDocument{Branch: b.ID, Key: bd.Key, Date: bd.Date, Reason: bd.Reason, Size: bd.Size, LastModified: bd.LastModified})
		}
	}
	return out
}

// BadDocuments is every bad document of every branch.
func (s *Service) BadDocuments() []BadDocument {
	x := s.idx.Load()
	if x == nil {
		return nil
	}
	var out []BadDocument
	for _, b := range x.Branches {
		out = append(out, badDocs(b)...)
	}
	return out
}

// Metrics returns the good documents with from <= date <= to (calendar
// dates; a zero time leaves that end open), by branch then date; branch
// "" means every branch.
func (s *Service) Metrics(branch string, from, to time.Time) []metrics.Document {
	var out []metrics.Document
	for d := range s.EachMetric(branch, from, to) {
		out = append(out, d)
	}
	return out
}

// EachMetric iterates over what Metrics returns without collecting it:
// the export streams through it with flat memory.
func (s *Service) EachMetric(branch string, from, to time.Time) iter.Seq[metrics.Document] {
	x := s.idx.Load()
	f, t := "", ""
	if !from.IsZero() {
		f = index.DateString(from)
	}
	if !to.IsZero() {
		t = index.DateString(to)
	}
	return func(yield func(metrics.Document) bool) {
		if x == nil {
			return
		}
		for _, b := range x.Branches {
			if branch != "" && b.ID != branch {
				continue
			}
			lo, hi := b.DocSpan(f, t)
			for i := lo; i < hi; i++ {
				if !yield(b.Docs.At(i).Document) {
					return
				}
			}
		}
	}
}

// EachFigures yields one branch's documents dated from..to (zero times:
// unbounded), oldest first, each with its date (midnight UTC): their
// figures, dates, names and final flags, without listing facts or
// generated_at, read for less than EachMetric's.
func (s *Service) EachFigures(branch string, from, to time.Time) iter.Seq2[time.Time, metrics.Document] {
	x := s.idx.Load()
	return func(yield func(time.Time, metrics.Document) bool) {
		b, ok := x.Branch(branch)
		if !ok {
			return
		}
		f, t := "", ""
		if !from.IsZero() {
			f = index.DateString(from)
		}
		if !to.IsZero() {
			t = index.DateString(to)
		}
		lo, hi := b.DocSpan(f, t)
		for i := lo; i < hi; i++ {
			if !yield(b.Docs.Day(i), b.Docs.Figures(i)) {
				return
			}
		}
	}
}

// Alerts is every check not up right now (the aggregator's own sync
// check last, with no branch), and the alert history (newest first).
func (s *Service) Alerts() (current []alert.Problem, history []alert.Record) {
	for _, b := range s.Branches() {
		for _, c := range b.AlertChecks() {
			if c.State != freshness.Up {
				current = append(current, alert.Problem{Branch: b.ID, BranchName: b.Name, Check: c.Name, State: c.State, Since: c.Since, Reason: c.Reason})
			}
		}
	}
	if c := s.SyncProblem(); c.State != freshness.Up {
		current = append(current, alert.Problem{Check: c.Name, State: c.State, Since: c.Since, Reason: c.Reason})
	}
	if s.o.Notifier != nil {
		history = s.o.Notifier.History()
	}
	return current, history
}

// ErrNoPresign is returned by PresignBackup when the store cannot hand
// out download URLs (a directory store).
var ErrNoPresign = errors.New("the bucket store cannot make download links")

// ErrUnknownBackup is returned by PresignBackup for a branch or backup
// that is not in the index.
var ErrUnknownBackup = errors.New("no such backup")

// PresignTTL is how long a backup download link works.
const PresignTTL = 15 * time.Minute

// PresignBackup returns a short-lived download URL for one of the
// branch's listed backups. Only names in the index are accepted, so a
// crafted name cannot reach another key.
func (s *Service) PresignBackup(ctx context.Context, branch, name string) (string, error) {
	b, ok := s.idx.Load().Branch(branch)
	if !ok {
		return "", ErrUnknownBackup
	}
	bk, ok := b.Backup(name)
	if !ok {
		return "", ErrUnknownBackup
	}
	p, ok := s.o.Store.(store.Presigner)
	if !ok {
		return "", ErrNoPresign
	}
	u, err := p.PresignGet(ctx, bk.Key, PresignTTL)
	if err != nil {
		return "", fmt.Errorf("presign backup %s: %w", bk.Key, err)
	}
	return u, nil
}

// HeadlineStatuses are the branches as the business headline reads them:
// a branch whose metrics check is failing (down or never up), or not yet
// judged (before the first sync), does not hold the headline date back.
func HeadlineStatuses(statuses []BranchStatus) []business.Status {
	out := make([]business.Status, len(statuses))
	for i, s := range statuses {
		st := s.Metrics.State
		out[i] = business.Status{ID: s.ID, Name: s.Name, Excluded: st.Failing() || st == freshness.Unknown}
	}
	return out
}
