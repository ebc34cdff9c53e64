// Package view holds the plain structs the dashboard's components render.
// Handlers fill them from the aggregator's service; components never touch
// storage or configuration. Everything here is data plus small pure helpers
// (sorting, totals, ranking) that are the same whoever renders them.
//
// Money fields are int64 paise (1/100 INR), as in the metrics documents.
// Times are already in the zone they are to be shown in (the branch's zone
// for a branch's events), so rendering never needs configuration.
package view

import (
	"net/url"
	"time"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// CheckState is the state of one freshness check, the healthchecks.io model.
type CheckState string

// The check states.
const (
	// StateUp means the last event arrived in time.
	StateUp CheckState = "up"
	// StateLate means the event is overdue but inside its grace period.
	StateLate CheckState = "late"
	// StateDown means the event is overdue past its grace period, or the
	// last backup was suspiciously small.
	StateDown CheckState = "down"
	// StateNever means the branch is expected but nothing was ever seen.
	StateNever CheckState = "never"
	// StateUnknown means the bucket has not been read yet (an expected
	// branch before the first good sync).
	StateUnknown CheckState = "unknown"
)

// Word is the state in words, shown beside its colour so that colour is
// never the only signal.
func (s CheckState) Word() string {
	switch s {
	case StateUp:
		return "Up"
	case StateLate:
		return "Late"
	case StateDown:
		return "Down"
	case StateNever:
		return "Never seen"
	default:
		return "Unknown"
	}
}

// Severity orders states from healthy (0) to worst (4): up, late, never,
// unknown, down.
func (s CheckState) Severity() int {
	switch s {
	case StateUp:
		return 0
	case StateLate:
		return 1
	case StateNever:
		return 2
	case StateDown:
		return 4
	default:
		return 3
	}
}

// Key is the state as a stylesheet key (the badge's data-state): one of
// up, late, down, never, or "unknown" for anything else.
func (s CheckState) Key() string {
	switch s {
	case StateUp, StateLate, StateDown, StateNever:
		return string(s)
	default:
		return "unknown"
	}
}

// Worst returns the more severe of two states.
func Worst(a, b CheckState) CheckState {
	if b.Severity() > a.Severity() {
		return b
	}
	return a
}

// Check is one freshness check of a branch as the page shows it.
type Check struct {
	State CheckState
	// Detail says why, in words: "last document 2026-02-15, due 21:45".
	Detail string
}

// SyncStatus is the state of the aggregator's reading of the bucket.
type SyncStatus struct {
	// Last is when the last sync finished (zero before the first).
	Last time.Time
	// Error is the last sync's error, "" when it succeeded. The index of
	// the last good sync is still served.
	Error string
	// Problem is that error in one line for people ("cannot list the
	// bucket salon-backups: access denied"); Error holds the details,
	// shown behind a disclosure. "" falls back to Error.
	Problem string
}

// BranchPath is the dashboard path of a branch's page. The id is escaped as
// a path segment: it comes from the bucket and is untrusted.
func BranchPath(id string) string {
	return "/branches/" + url.PathEscape(id)
}

// DayRow is one business date of a branch: the metrics document as read.
type DayRow struct {
	// Date is the business date at midnight UTC, like Range's ends.
	Date time.Time
	Doc  metrics.Document
}

// Backup is one dump in a branch's backups folder.
type Backup struct {
	Name  string
	Taken time.Time // in the branch's zone
	Size  int64
	// SHA256 is the lower-case hex checksum from the object's metadata, ""
	// when the object carries none.
	SHA256 string
	// DownloadURL is where the download link points (a dashboard route that
	// redirects to a short-lived presigned URL).
	DownloadURL string
	// Manifest is the row counts of the dump's manifest, nil without one.
	Manifest *BackupManifest
}

// BadDocument is a metrics object that could not be used, with the reason.
type BadDocument struct {
	Key    string
	Date   string // the date from the key, "" when the key has none
	Reason string
}

// Problem is one current failing check, for the alerts banner and page.
type Problem struct {
	BranchID   string
	BranchName string
	Check      string // "metrics" or "backup"
	State      CheckState
	Since      time.Time // zero when unknown
	Detail     string
}

// AlertEvent is one alert raised: a check going down, recovering, or a
// reminder that it is still down.
type AlertEvent struct {
	At         time.Time
	Kind       string // "down", "recovered" or "reminder"
	BranchID   string
	BranchName string
	Check      string
	From, To   CheckState
	Text       string
	// Delivery says in words what became of the alert when it went to no
	// channel ("not sent: no alert channel configured"), or sums up
	// Deliveries.
	Delivery string
	// Failed is true when the last delivery attempt failed; Error says why.
	Failed bool
	Error  string
	// Deliveries is the alert's delivery on each channel.
	Deliveries []Delivery
}

// Delivery is one alert's delivery on one channel (email, telegram,
// webhook).
type Delivery struct {
	Channel string
	// State says in words what became of it ("delivered 2026-02-17
	// 23:01 +05:30", "pending, 3 attempts", "failed, not retried").
	State string
	// Failed is true when the last attempt failed; Error says why.
	Failed bool
	Error  string
}
