package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

const (
	ctxBuild        = "slipway.build"
	ctxBuildProject = "slipway.build_project"
)

// loadBuild loads the build named by :id (with its project, steps and
// artifact) for the handler, or answers 404.
func (h *Handler) loadBuild(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return echo.NewHTTPError(http.StatusNotFound, "There is no build with this number.")
		}
		b, err := h.store.Build(c.Request().Context(), id)
		if err != nil {
			return err // ErrNotFound becomes a 404
		}
		c.Set(ctxBuild, b)
		return next(c)
	}
}

// buildFrom returns the build loadBuild put in the context.
func buildFrom(c echo.Context) *models.Build {
	return c.Get(ctxBuild).(*models.Build)
}

// loadBuildsProject loads the project named by :slug for the build
// routes under a project, or answers 404.
func (h *Handler) loadBuildsProject(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := h.store.ProjectForBuilds(c.Request().Context(), c.Param("slug"))
		if err != nil {
			return err
		}
		c.Set(ctxBuildProject, p)
		return next(c)
	}
}

// buildsProjectFrom returns the project loadBuildsProject loaded.
func buildsProjectFrom(c echo.Context) *models.Project {
	return c.Get(ctxBuildProject).(*models.Project)
}
