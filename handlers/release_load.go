package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

const ctxRelease = "slipway.release"

// loadRelease loads the release named by :id (with its environment,
// project, build and requester) for the handler, or answers 404.
func (h *Handler) loadRelease(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := h.releaseParam(c)
		if err != nil {
			return err
		}
		c.Set(ctxRelease, r)
		return next(c)
	}
}

// releaseFrom returns the release loadRelease put in the context.
func releaseFrom(c echo.Context) *models.Release {
	return c.Get(ctxRelease).(*models.Release)
}
