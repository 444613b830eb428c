package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// cancelLoadTest stops a queued or running run from the run page.
func (h *Handler) cancelLoadTest(c echo.Context) error {
	l, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	to := "/loadtests/" + idStr(l.ID)
	err = h.jobs.CancelLoadTest(c.Request().Context(), h.store, l)
	if errors.Is(err, models.ErrNotFound) {
		return h.redirectWith(c, to, "info", "The run had already finished.")
	}
	if err != nil {
		return err
	}
	return h.redirectWith(c, to, "success", "Load test "+l.Ref()+" is stopping.")
}

// apiCancelLoadTest stops a run: 202 while it stops, 409 when it had
// already finished.
func (h *Handler) apiCancelLoadTest(c echo.Context) error {
	l, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	err = h.jobs.CancelLoadTest(c.Request().Context(), h.store, l)
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusConflict, "load test "+l.Ref()+" already finished: it is "+l.Status)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"id": l.ID, "status": "canceling"})
}
