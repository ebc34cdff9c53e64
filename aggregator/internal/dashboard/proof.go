package dashboard

import (
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/web/components"
	"github.com/branchwatch/branchwatch/web/view"
)

// proofModel fills the branch page's restore drills and agent status.
func proofModel(p *view.BranchPage, b service.BranchDetail, loc *time.Location) {
	p.Drill, p.AgentCheck = check(b.Drill), check(b.Agent)
	for _, d := range b.Drills {
		vd := view.Drill{Date: inZone(d.DrilledAt, loc), BackupName: path.Base(d.BackupKey), Duration: time.Duration(d.DurationMS) * time.Millisecond,
			Tables: d.Tables, Rows: d.Rows, OK: d.OK, Error: d.Error, FiguresChanged: d.FiguresChanged}
		if d.BackupKey == "" {
			vd.BackupName = ""
		}
		if d.MetricsCheck != nil {
			vd.ChangedDate = d.MetricsCheck.Date
		}
		p.Drills = append(p.Drills, vd)
	}
	a := b.AgentStatus
	if a == nil {
		return
	}
	ap := &view.AgentPanel{Updated: inZone(a.UpdatedAt, loc), Version: a.AgentVersion, ServerVersion: a.ServerVersion,
		PGDumpVersion: a.PGDumpVersion, FreeBytes: -1, LastDumpSize: -1}
	if a.BackupDirFreeBytes != nil {
		ap.FreeBytes = *a.BackupDirFreeBytes
	}
	if a.LastDumpSize != nil {
		ap.LastDumpSize = *a.LastDumpSize
	}
	for _, j := range a.Jobs {
		ap.Jobs = append(ap.Jobs, view.AgentJob{Name: j.Name, LastSuccess: inZone(j.LastSuccess, loc), LastError: j.LastError, NextRun: inZone(j.NextRun, loc)})
	}
	for _, c := range a.Doctor {
		ap.Checks = append(ap.Checks, view.DoctorCheck{Check: c.Check, Setting: c.Setting, Status: c.Status, Detail: c.Detail})
	}
	for _, f := range a.Failing {
		if len(a.Doctor) == 0 { // an agent that sends only the failing ones
			ap.Checks = append(ap.Checks, view.DoctorCheck{Status: "fail", Detail: f})
		}
	}
	p.Agent = ap
}

// deploymentsModel is which agent versions run where.
func (d *Dashboard) deploymentsModel() view.DeploymentsPage {
	branches := d.svc.Branches()
	names := map[string]string{}
	for _, b := range branches {
		names[b.ID] = b.Name
	}
	p := view.DeploymentsPage{Now: d.svc.Now(), Sync: d.syncStatus(d.svc.LastSync())}
	for _, dep := range service.DeploymentsOf(branches) {
		vd := view.Deployment{Version: dep.AgentVersion}
		for _, id := range dep.Branches {
			vd.Branches = append(vd.Branches, view.DeploymentBranch{ID: id, Name: names[id]})
		}
		p.Deployments = append(p.Deployments, vd)
	}
	return p
}

// deploymentsPage is GET /deployments.
func (d *Dashboard) deploymentsPage(c echo.Context) error {
	return Render(c, http.StatusOK, components.Deployments(d.deploymentsModel()))
}
