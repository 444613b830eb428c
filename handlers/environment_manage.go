package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// createEnvironment adds an environment at the end of a project's chain.
func (h *Handler) createEnvironment(c echo.Context) error {
	ctx := c.Request().Context()
	p, _, err := h.store.ProjectEnvironments(ctx, c.Param("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no project "+c.Param("slug"))
	}
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("name"))
	if !envNameRE.MatchString(name) {
		return h.redirectWith(c, "/environments", "error", "An environment name is 1–32 lower-case letters, digits or dashes.")
	}
	env := &models.Environment{ProjectID: p.ID, Name: name}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateEnvironment(ctx, env); err != nil {
			return err
		}
		return h.audit(ctx, tx, c, models.AuditEnvCreate, "environment", env.ID, map[string]any{"project": p.Slug, "environment": name})
	})
	if errors.Is(err, models.ErrConflict) {
		return h.redirectWith(c, "/environments", "error", p.Name+" already has an environment called "+name+".")
	}
	if err != nil {
		return err
	}
	return h.redirectWith(c, models.Path("projects", p.Slug, "environments", name, "settings"), "success", "Environment "+name+" added to "+p.Name+".")
}

// moveEnvironment moves an environment earlier or later in the chain.
func (h *Handler) moveEnvironment(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	delta := 1
	switch c.FormValue("direction") {
	case "up":
		delta = -1
	case "down":
	default:
		return badRequest("direction must be up or down")
	}
	ctx := c.Request().Context()
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.MoveEnvironment(ctx, env.ID, delta); err != nil {
			return err
		}
		return h.auditEnvironment(ctx, tx, c, models.AuditEnvMove, env, map[string]any{"direction": c.FormValue("direction")})
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/environments", "success", env.Name+" moved.")
}

// deleteEnvironment stops what runs in an environment and removes it.
func (h *Handler) deleteEnvironment(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.DeleteEnvironment(ctx, env.ID); err != nil {
			return err
		}
		return h.auditEnvironment(ctx, tx, c, models.AuditEnvDelete, env, map[string]any{})
	})
	if err != nil {
		return err
	}
	if h.engine != nil {
		// Stopping drains in-flight requests; do it after answering.
		go func(key string) {
			if err := h.engine.StopEnv(key); err != nil {
				h.log.Warn("stop removed environment", slog.String("env", key), slog.Any("err", err))
			}
		}(env.EngineKey())
	}
	return h.redirectWith(c, "/environments", "success", "Environment "+env.Name+" of "+env.Project.Name+" removed.")
}
