package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
)

// branchDrills is GET /api/v1/branches/{id}/drills: the drill check and
// every restore drill, newest first.
func (h Handlers) branchDrills(c echo.Context) error {
	d, err := h.detail(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Check  freshness.Check     `json:"drill_check"`
		Drills []service.DrillInfo `json:"drills"`
	}{d.Drill, d.Drills})
}

// branchAgent is GET /api/v1/branches/{id}/agent: the agent check and the
// agent's status document (null without one).
func (h Handlers) branchAgent(c echo.Context) error {
	d, err := h.detail(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Check  freshness.Check    `json:"agent_check"`
		Status *service.AgentInfo `json:"agent_status"`
	}{d.Agent, d.AgentStatus})
}

// deployments is GET /api/v1/deployments: which agent versions run where.
func (h Handlers) deployments(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"deployments": service.DeploymentsOf(h.R.Branches())})
}

func (h Handlers) detail(c echo.Context) (service.BranchDetail, error) {
	id, err := branchID(c)
	if err != nil {
		return service.BranchDetail{}, err
	}
	d, ok := h.R.Branch(id)
	if !ok {
		return service.BranchDetail{}, echo.NewHTTPError(http.StatusNotFound, "no such branch")
	}
	return d, nil
}
