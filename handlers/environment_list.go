package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showEnvironments is the overview: every project's environments and
// what is live in each.
func (h *Handler) showEnvironments(c echo.Context) error {
	ctx := c.Request().Context()
	envs, ids, live, err := h.environmentsLive(ctx)
	if err != nil {
		return err
	}
	active, err := h.store.ActiveReleases(ctx, ids)
	if err != nil {
		return err
	}
	latest, err := h.store.LatestReleases(ctx, ids)
	if err != nil {
		return err
	}
	pending, err := h.pendingPromotions(ctx)
	if err != nil {
		return err
	}
	p := pages.EnvironmentsPage{Now: h.now(), CSRF: csrfToken(c), CanManage: auth.Can(roleOf(currentUser(c)), auth.ManageEnvironments)}
	for i := range envs {
		e := &envs[i]
		if n := len(p.Projects); n == 0 || p.Projects[n-1].Slug != e.Project.Slug {
			p.Projects = append(p.Projects, pages.EnvProjectGroup{Slug: e.Project.Slug, Name: e.Project.Name})
		}
		card := pages.EnvCard{Name: e.Name, URL: e.URL(), Target: e.Target, Protected: e.Protected, Paused: e.AutoDeployPaused}
		if r := live[e.ID]; r != nil {
			v := releaseView(r, e.Project.Slug, e.Name)
			card.Live = &v
			card.RolledBack = r.Reason == models.ReasonRollback
		}
		if r := latest[e.ID]; failedAfterLive(r, live[e.ID]) {
			v := releaseView(r, e.Project.Slug, e.Name)
			card.Failed = &v
		}
		if i > 0 && envs[i-1].ProjectID == e.ProjectID {
			card.Behind = behindNote(envs[i-1].Name, live[envs[i-1].ID], live[e.ID])
		}
		card.Pending = pending[e.ID]
		if r := active[e.ID]; r != nil {
			v := releaseView(r, e.Project.Slug, e.Name)
			card.Active = &v
		}
		g := &p.Projects[len(p.Projects)-1]
		g.Envs = append(g.Envs, card)
	}
	return h.render(c, "Environments", "environments", pages.Environments(p))
}

// environmentJSON is an environment in the API.
type environmentJSON struct {
	Name             string `json:"name"`
	Position         int    `json:"position"`
	URL              string `json:"url"`
	Protected        bool   `json:"protected"`
	Target           string `json:"target"`
	AutoDeployBranch string `json:"auto_deploy_branch"`
	AutoDeployPaused bool   `json:"auto_deploy_paused"`
	ConfigVersion    int64  `json:"config_version"`
	// Instances is the environment's setting (0: as .slipway.yml says);
	// Running the instances the edge balances over now (null when this
	// process does not run the environments).
	Instances   int          `json:"instances"`
	Running     *int         `json:"running_instances"`
	LiveRelease *releaseJSON `json:"live_release"`
}

// environmentJSON is env in the API, without its live release.
// environmentJSON maps e and its live release (nil when none) for the API.
func (h *Handler) environmentJSON(e *models.Environment, live *models.Release) environmentJSON {
	j := environmentJSON{Name: e.Name, Position: e.Position, URL: e.URL(), Protected: e.Protected, Target: e.Target,
		AutoDeployBranch: e.AutoDeployBranch, AutoDeployPaused: e.AutoDeployPaused, ConfigVersion: e.ConfigVersion,
		Instances: e.Instances}
	if h.engine != nil {
		n := len(h.engine.Status(e.EngineKey()).Pool)
		j.Running = &n
	}
	if live != nil {
		rj := toReleaseJSON(live, e)
		j.LiveRelease = &rj
	}
	return j
}

// apiEnvironments lists a project's environments in promotion order.
func (h *Handler) apiEnvironments(c echo.Context) error {
	ctx := c.Request().Context()
	_, envs, err := h.store.ProjectEnvironments(ctx, c.Param("slug"))
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "no project "+c.Param("slug"))
		}
		return err
	}
	ids := make([]int64, len(envs))
	for i := range envs {
		ids[i] = envs[i].ID
	}
	live, err := h.store.LiveReleases(ctx, ids)
	if err != nil {
		return err
	}
	out := make([]environmentJSON, 0, len(envs))
	for i := range envs {
		e := &envs[i]
		out = append(out, h.environmentJSON(e, live[e.ID]))
	}
	return c.JSON(http.StatusOK, out)
}

// environmentsLive loads every project's environments, their IDs in the
// same order, and the release live in each (the overview and the
// dashboard's "what is live where").
func (h *Handler) environmentsLive(ctx context.Context) ([]models.Environment, []int64, map[int64]*models.Release, error) {
	envs, err := h.store.AllEnvironments(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ids := make([]int64, len(envs))
	for i := range envs {
		ids[i] = envs[i].ID
	}
	live, err := h.store.LiveReleases(ctx, ids)
	if err != nil {
		return nil, nil, nil, err
	}
	return envs, ids, live, nil
}
