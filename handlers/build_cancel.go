package handlers

import (
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
)

// cancelBuild stops a build from its page.
func (h *Handler) cancelBuild(c echo.Context) error {
	b := buildFrom(c)
	to := "/builds/" + idText(b.ID)
	err := h.jobs.CancelBuild(c.Request().Context(), h.store, b, currentUser(c))
	if errors.Is(err, jobs.ErrBuildFinished) {
		return h.redirectWith(c, to, "info", "Build #"+idText(b.Number)+" had already finished ("+b.Status+").")
	}
	if err != nil {
		return err
	}
	return h.redirectWith(c, to, "success", "Build #"+idText(b.Number)+" is being canceled.")
}
