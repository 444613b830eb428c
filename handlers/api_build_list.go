package handlers

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// buildStatuses are the statuses a list can be filtered by.
var buildStatuses = []string{models.BuildQueued, models.BuildRunning, models.BuildSucceeded,
	models.BuildFailed, models.BuildCanceled, models.BuildInterrupted}

// apiListBuilds lists a project's builds, newest first. Query: ref,
// status, limit (≤ 200, default 50) and before (a build ID, to page back).
func (h *Handler) apiListBuilds(c echo.Context) error {
	p := buildsProjectFrom(c)
	f := models.BuildFilter{ProjectID: p.ID, Ref: c.QueryParam("ref"), Status: c.QueryParam("status")}
	if f.Status != "" && !slices.Contains(buildStatuses, f.Status) {
		return badRequest("status must be one of queued, running, succeeded, failed, canceled, interrupted")
	}
	for name, dst := range map[string]*int64{"before": &f.BeforeID} {
		if v := c.QueryParam(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return badRequest(name + " must be a positive build ID")
			}
			*dst = n
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > models.MaxBuildsPage {
			return badRequest("limit must be between 1 and " + strconv.Itoa(models.MaxBuildsPage))
		}
		f.Limit = n
	}
	bs, err := h.store.Builds(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := make([]buildJSON, len(bs))
	for i := range bs {
		out[i] = toBuildJSON(&bs[i])
	}
	return c.JSON(http.StatusOK, out)
}
