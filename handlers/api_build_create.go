package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
)

// createBuildRequest is POST /api/v1/projects/{slug}/builds.
type createBuildRequest struct {
	// Ref is a branch, tag or commit SHA; empty means the default branch.
	Ref string `json:"ref"`
}

// apiCreateBuild queues a build of a ref, resolved to a commit now.
func (h *Handler) apiCreateBuild(c echo.Context) error {
	p := buildsProjectFrom(c)
	var req createBuildRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ref := strings.TrimSpace(req.Ref)
	if ref == "" {
		ref = p.DefaultBranch
	}
	u := currentUser(c)
	b, err := h.jobs.CreateBuild(c.Request().Context(), h.store, jobs.CreateBuildRequest{
		Project: p, Ref: ref, Trigger: jobs.TriggerAPI, TriggeredByID: &u.ID,
	})
	if err != nil {
		return apiCreateBuildError(err)
	}
	b.TriggeredBy = u
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/builds/"+idText(b.ID))
	return c.JSON(http.StatusCreated, toBuildJSON(b))
}
