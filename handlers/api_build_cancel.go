package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
)

// apiCancelBuild cancels a queued build, or asks the worker of a running
// one to stop it (202: poll the build for the final status).
func (h *Handler) apiCancelBuild(c echo.Context) error {
	b := buildFrom(c)
	ctx := c.Request().Context()
	err := h.jobs.CancelBuild(ctx, h.store, b, currentUser(c))
	if errors.Is(err, jobs.ErrBuildFinished) {
		return echo.NewHTTPError(http.StatusConflict, "build #"+idText(b.Number)+" already finished ("+b.Status+"); there is nothing to cancel")
	}
	if err != nil {
		return err
	}
	nb, err := h.store.Build(ctx, b.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toBuildDetailJSON(nb))
}
