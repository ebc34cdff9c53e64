package service

import (
	"maps"
	"slices"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
)

// Checks are the branch's checks, in the order they are shown.
func (b BranchStatus) Checks() []freshness.Check {
	return []freshness.Check{b.Metrics, b.Backup, b.Drill, b.FutureDated, b.Agent, b.Instances}
}

// AlertChecks are the checks that raise alerts and are listed as
// problems: all of them, except a drill check that never saw a drill
// (drills are the agent's choice: VERIFY_SCHEDULE off, local-only mode,
// an agent older than drills) and an agent check without a status
// document. Once a drill was recorded, its check alerts like the others.
func (b BranchStatus) AlertChecks() []freshness.Check {
	out := make([]freshness.Check, 0, 6)
	for _, c := range b.Checks() {
		if c.Name == freshness.CheckDrill && c.State == freshness.Never || c.Name == freshness.CheckAgent && c.State == freshness.Unknown {
			continue
		}
		out = append(out, c)
	}
	return out
}

// DrillInfo is one restore drill as shown.
type DrillInfo struct {
	Key          string    `json:"key"`
	Date         string    `json:"date"`       // the branch's date of the drill
	DrilledAt    time.Time `json:"drilled_at"` // in the branch's zone
	BackupKey    string    `json:"backup_key"`
	BackupSHA256 string    `json:"backup_sha256"`
	OK           bool      `json:"ok"`
	DurationMS   int64     `json:"duration_ms"`
	Tables       int       `json:"tables"`
	// Rows is the sum of the restored rows.
	Rows  int64  `json:"rows"`
	Error string `json:"error"`
	// FiguresChanged says the business day recomputed from the restored
	// copy differs from the metrics document pushed for it: the figures
	// changed after they were reported (not a failure).
	FiguresChanged bool                `json:"figures_changed"`
	MetricsCheck   *drill.MetricsCheck `json:"metrics_check,omitempty"`
}

// ManifestInfo is what a backup's manifest says.
type ManifestInfo struct {
	SHA256        string           `json:"sha256"`
	Tables        map[string]int64 `json:"tables"`
	Rows          int64            `json:"rows"`
	NotCounted    []string         `json:"not_counted,omitempty"`
	ServerVersion string           `json:"server_version"`
	PGDumpVersion string           `json:"pg_dump_version"`
	AgentVersion  string           `json:"agent_version"`
}

// AgentInfo is the agent status document as shown.
type AgentInfo struct {
	UpdatedAt          time.Time                 `json:"updated_at"`
	AgentVersion       string                    `json:"agent_version"`
	ServerVersion      string                    `json:"server_version,omitempty"`
	PGDumpVersion      string                    `json:"pg_dump_version,omitempty"`
	BackupDirFreeBytes *int64                    `json:"backup_dir_free_bytes,omitempty"`
	LastDumpSize       *int64                    `json:"last_dump_size,omitempty"`
	Jobs               []JobInfo                 `json:"jobs"`
	Doctor             []agentstatus.CheckResult `json:"doctor"`
	// Failing are the failing checks of an agent that sends no details.
	Failing []string `json:"failing,omitempty"`
}

// JobInfo is one of the agent's jobs.
type JobInfo struct {
	Name        string    `json:"name"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	NextRun     time.Time `json:"next_run,omitzero"`
}

// Deployment is one agent version and the branches running it.
type Deployment struct {
	AgentVersion string   `json:"agent_version"`
	Branches     []string `json:"branches"`
}

func drillInfo(d index.Drill, loc *time.Location) DrillInfo {
	at, _ := time.Parse(time.RFC3339, d.DrilledAt)
	di := DrillInfo{Key: d.Key, Date: at.In(loc).Format("2006-01-02"), DrilledAt: at.In(loc), BackupKey: d.BackupKey,
		BackupSHA256: d.BackupSHA256, OK: d.OK, DurationMS: d.DurationMS, Tables: len(d.Tables), Error: d.Error, MetricsCheck: d.MetricsCheck}
	for _, t := range d.Tables {
		if t.Restored != nil {
			di.Rows += *t.Restored
		}
	}
	di.FiguresChanged = d.MetricsCheck != nil && !d.MetricsCheck.MatchesPushed
	return di
}

func drillHistory(b *index.Branch, loc *time.Location) []DrillInfo {
	out := []DrillInfo{}
	if b.Proof == nil {
		return out
	}
	for i := len(b.Proof.Drills) - 1; i >= 0; i-- {
		out = append(out, drillInfo(b.Proof.Drills[i], loc))
	}
	return out
}

func withManifest(bi *BackupInfo, m *index.Manifest) {
	mi := &ManifestInfo{SHA256: m.SHA256, Tables: m.Tables, NotCounted: m.NotCounted,
		ServerVersion: m.ServerVersion, PGDumpVersion: m.PGDumpVersion, AgentVersion: m.AgentVersion}
	for _, n := range m.Tables {
		mi.Rows += n
	}
	if bi.SHA256 == "" {
		bi.SHA256 = m.SHA256
	}
	bi.Manifest = mi
}

func agentOf(b *index.Branch) *index.AgentStatus {
	if b.Proof == nil {
		return nil
	}
	return b.Proof.Agent
}

func badProof(b *index.Branch) int {
	if b.Proof == nil {
		return 0
	}
	return len(b.Proof.Bad)
}

func parseStamp(s string, loc *time.Location) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.In(loc)
}

func agentInfo(b *index.Branch, loc *time.Location) *AgentInfo {
	a := agentOf(b)
	if a == nil {
		return nil
	}
	ai := &AgentInfo{UpdatedAt: a.UpdatedTime().In(loc), AgentVersion: a.AgentVersion, ServerVersion: a.ServerVersion,
		PGDumpVersion: a.PGDumpVersion, BackupDirFreeBytes: a.BackupDirFreeBytes, LastDumpSize: a.LastDumpSize,
		Jobs: []JobInfo{}, Doctor: a.Doctor, Failing: a.Failing}
	if ai.Doctor == nil {
		ai.Doctor = []agentstatus.CheckResult{}
	}
	for _, name := range slices.Sorted(maps.Keys(a.Jobs)) {
		j := a.Jobs[name]
		ai.Jobs = append(ai.Jobs, JobInfo{Name: name, LastAttempt: parseStamp(j.LastAttempt, loc), LastSuccess: parseStamp(j.LastSuccess, loc),
			LastError: j.LastError, NextRun: parseStamp(j.NextRun, loc)})
	}
	return ai
}

// DeploymentsOf is which agent versions run where, by version string;
// branches without a status document are under "".
func DeploymentsOf(branches []BranchStatus) []Deployment {
	by := map[string][]string{}
	for _, b := range branches {
		by[b.AgentVersion] = append(by[b.AgentVersion], b.ID)
	}
	out := make([]Deployment, 0, len(by))
	for _, v := range slices.Sorted(maps.Keys(by)) {
		out = append(out, Deployment{AgentVersion: v, Branches: by[v]})
	}
	return out
}
