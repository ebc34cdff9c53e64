package view

import "time"

// Drill is one restore drill on a branch's page.
type Drill struct {
	Date       time.Time // the drill's start, in the branch's zone
	BackupName string    // the dump restored ("" when the drill failed before choosing one)
	Duration   time.Duration
	Tables     int
	Rows       int64
	OK         bool
	Error      string
	// FiguresChanged says the day recomputed from the restored copy
	// differs from the metrics document pushed for it (not a failure).
	FiguresChanged bool
	ChangedDate    string // the business day concerned
}

// BackupManifest is what a backup's manifest says.
type BackupManifest struct {
	Tables int
	Rows   int64
}

// AgentPanel is the agent's status document on a branch's page.
type AgentPanel struct {
	Updated       time.Time // branch zone
	Version       string
	ServerVersion string
	PGDumpVersion string
	// FreeBytes and LastDumpSize are -1 when unknown.
	FreeBytes    int64
	LastDumpSize int64
	Jobs         []AgentJob
	Checks       []DoctorCheck
}

// AgentJob is one of the agent's jobs.
type AgentJob struct {
	Name        string
	LastSuccess time.Time // zero: never
	LastError   string
	NextRun     time.Time // zero: unknown
}

// DoctorCheck is one configuration check of the agent.
type DoctorCheck struct {
	Check   string
	Setting string
	// Status is "pass", "fail" or "skip".
	Status string
	Detail string
}

// Deployment is one agent version and where it runs.
type Deployment struct {
	// Version is "" for branches whose agent sends no status.
	Version  string
	Branches []DeploymentBranch
}

// DeploymentBranch is one branch of a deployment.
type DeploymentBranch struct {
	ID, Name string
}

// DeploymentsPage is which agent versions run where.
type DeploymentsPage struct {
	Now         time.Time
	Sync        SyncStatus
	Deployments []Deployment
}
