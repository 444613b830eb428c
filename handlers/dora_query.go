package handlers

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/models"
)

// doraDefaultDays is the window when ?days= is absent.
const doraDefaultDays = 30

// doraQuery is what the DORA page and API were asked for.
type doraQuery struct {
	project *models.Project
	env     *models.Environment
	envs    []models.Environment
	days    int
}

// parseDORAQuery reads ?environment= (default: the one called
// production, else the last of the chain) and ?days= (7, 30 or 90) for
// the project loadProject loaded.
func (h *Handler) parseDORAQuery(c echo.Context) (doraQuery, error) {
	p := projectFrom(c)
	q := doraQuery{project: p, days: doraDefaultDays}
	if s := c.QueryParam("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !dora.ValidWindow(n) {
			return q, echo.NewHTTPError(http.StatusUnprocessableEntity, "days must be 7, 30 or 90 (got "+strconv.Quote(s)+")")
		}
		q.days = n
	}
	_, envs, err := h.store.ProjectEnvironments(c.Request().Context(), p.Slug)
	if err != nil {
		return q, err
	}
	q.envs = envs
	name := c.QueryParam("environment")
	i := slices.IndexFunc(envs, func(e models.Environment) bool {
		if name == "" {
			return e.Name == "production"
		}
		return e.Name == name
	})
	switch {
	case i >= 0:
		q.env = &envs[i]
	case name == "" && len(envs) > 0:
		q.env = &envs[len(envs)-1]
	case name == "":
		return q, echo.NewHTTPError(http.StatusNotFound, "project "+p.Slug+" has no environments yet")
	default:
		return q, echo.NewHTTPError(http.StatusNotFound, "no environment "+strconv.Quote(name)+" in project "+p.Slug)
	}
	q.env.Project = *p
	return q, nil
}
