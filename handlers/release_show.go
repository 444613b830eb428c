package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showRelease is a release's page: what it deployed, how it went, the
// failed instance's output, the deploy log.
func (h *Handler) showRelease(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := h.releaseParam(c)
	if err != nil {
		return err
	}
	env := &r.Environment
	l, err := h.releaseLog(ctx, r)
	if err != nil {
		return err
	}
	p := pages.ReleasePage{Now: h.now(), CSRF: csrfToken(c), R: releaseView(r, env.Project.Slug, env.Name), Output: r.Output, Log: l}
	var cfg []models.ConfigEntry
	if json.Unmarshal([]byte(r.ConfigSummary), &cfg) == nil {
		for _, e := range cfg {
			p.Config = append(p.Config, pages.ConfigEntryView{Name: e.Name, Value: e.Value, Secret: e.Secret})
		}
	}
	if canDeploy(currentUser(c), env) {
		if live, err := h.store.LiveRelease(ctx, env.ID); err == nil {
			p.CanRollBack = rollbackRefusal(r, live) == ""
		}
	}
	return h.render(c, "Release #"+strconv.FormatInt(r.ID, 10), "environments", pages.Release(p))
}

// showReleaseLog is the deploy log fragment htmx polls while a deploy
// runs; once it has finished, a polling page reloads to show the outcome.
func (h *Handler) showReleaseLog(c echo.Context) error {
	r, err := h.releaseParam(c)
	if err != nil {
		return err
	}
	l, err := h.releaseLog(c.Request().Context(), r)
	if err != nil {
		return err
	}
	if l.Done && c.QueryParam("poll") == "1" {
		c.Response().Header().Set("HX-Refresh", "true")
	}
	return h.renderComponent(c, http.StatusOK, pages.ReleaseLogView(l))
}

// apiRelease returns one release.
func (h *Handler) apiRelease(c echo.Context) error {
	r, err := h.releaseParam(c)
	if err != nil {
		return err
	}
	j := toReleaseJSON(r, &r.Environment)
	if j.WaitingFor, err = h.store.ReleaseWaitingFor(c.Request().Context(), r); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// apiReleases lists an environment's releases, newest first.
func (h *Handler) apiReleases(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	rels, err := h.store.Releases(c.Request().Context(), env.ID, 100)
	if err != nil {
		return err
	}
	out := make([]releaseJSON, 0, len(rels))
	for i := range rels {
		out = append(out, toReleaseJSON(&rels[i], env))
	}
	return c.JSON(http.StatusOK, out)
}
