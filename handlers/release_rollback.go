package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
)

// rollbackRequest is the body of POST …/rollback.
type rollbackRequest struct {
	ReleaseID int64 `json:"release_id"`
}

// apiRollback queues a rollback: 201 with the new release.
func (h *Handler) apiRollback(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	var req rollbackRequest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	r, err := h.delivery.Rollback(c.Request().Context(), currentUser(c), env, req.ReleaseID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toReleaseJSON(r, env))
}

// rollbackFromForm queues a rollback from the environment or release page.
func (h *Handler) rollbackFromForm(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(c.FormValue("release_id"), 10, 64)
	r, err := h.delivery.Rollback(c.Request().Context(), currentUser(c), env, id)
	if errors.Is(err, delivery.ErrConflict) {
		return h.redirectWith(c, envPath(env), "error", err.Error())
	}
	if err != nil {
		return err
	}
	return h.redirectWith(c, envPath(env), "success",
		fmt.Sprintf("Rolling %s back to release #%d (new release #%d).", env.Name, *r.SourceReleaseID, r.ID))
}

// envPath is the environment's page.
func envPath(env *models.Environment) string {
	return models.Path("projects", env.Project.Slug, "environments", env.Name)
}

// resumeAutoDeploy clears a paused auto-deploy (admins).
func (h *Handler) resumeAutoDeploy(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	if err := h.store.ResumeAutoDeploy(c.Request().Context(), env.ID); err != nil {
		return err
	}
	if isAPI(c) {
		return c.NoContent(http.StatusNoContent)
	}
	return h.redirectWith(c, envPath(env), "success", "Auto-deploy to "+env.Name+" resumed.")
}
