package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
	"github.com/slipway-ci/slipway/views/pages"
)

// showRelease is a release's page: what it deployed, how it went, the
// failed instance's output, and the deploy log in the live log viewer.
func (h *Handler) showRelease(c echo.Context) error {
	ctx := c.Request().Context()
	r := releaseFrom(c)
	env := &r.Environment
	log, err := h.releaseLogView(c, r)
	if err != nil {
		return err
	}
	// This page marks its status, error, output and details as live
	// regions that the viewer refreshes in place when the deploy's status
	// changes; a reload would lose the reader's place in the log.
	log.ReloadOnEnd = false
	p := pages.ReleasePage{Now: h.now(), CSRF: csrfToken(c), R: releaseView(r, env.Project.Slug, env.Name), Output: r.Output, Log: log}
	if p.WaitingFor, err = h.store.ReleaseWaitingFor(ctx, r); err != nil {
		return err
	}
	var cfg []models.ConfigEntry
	if json.Unmarshal([]byte(r.ConfigSummary), &cfg) == nil {
		for _, e := range cfg {
			p.Config = append(p.Config, pages.ConfigEntryView{Name: e.Name, Value: e.Value, Secret: e.Secret})
		}
	}
	if delivery.MayDeploy(currentUser(c), env) == nil {
		if live, err := h.store.LiveRelease(ctx, env.ID); err == nil {
			p.CanRollBack = delivery.RollbackRefusal(r, live) == ""
		}
	}
	return h.render(c, "Release #"+strconv.FormatInt(r.ID, 10), "environments", pages.Release(p))
}

// releaseLogView is the log viewer of a release's deploy log, for the
// release page and the environment page's deploy in progress. A deploy
// log is short, so the viewer's box fits its lines; and when the deploy
// ends the environment page reloads, so its status, error and the failed
// instance's output show without a poll (the release page refreshes its
// live regions instead).
func (h *Handler) releaseLogView(c echo.Context, r *models.Release) (components.LogView, error) {
	v, err := h.logView(c, h.releaseLogTarget(r), releaseLogState(r))
	v.Fit, v.ReloadOnEnd = true, true
	return v, err
}

// apiRelease returns one release.
func (h *Handler) apiRelease(c echo.Context) error {
	r := releaseFrom(c)
	j := toReleaseJSON(r, &r.Environment)
	var err error
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
