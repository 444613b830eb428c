package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// startRollback queues a rollback of env to release id (0: the previous
// good release). The release live now is marked rejected once the
// rollback is live, and auto-deploy pauses.
func (h *Handler) startRollback(c echo.Context, env *models.Environment, id int64) (*models.Release, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	if err := mayDeploy(u, env); err != nil {
		return nil, err
	}
	live, err := h.store.LiveRelease(ctx, env.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusConflict, "nothing is live in "+env.Name+", so there is nothing to roll back")
	}
	if err != nil {
		return nil, err
	}
	var target *models.Release
	if id == 0 {
		target, err = h.store.PreviousGoodRelease(ctx, env.ID)
		if errors.Is(err, models.ErrNotFound) {
			return nil, echo.NewHTTPError(http.StatusConflict, env.Name+" has no earlier good release to roll back to")
		}
		if err != nil {
			return nil, err
		}
	} else {
		target, err = h.store.Release(ctx, id)
		if errors.Is(err, models.ErrNotFound) || (err == nil && target.EnvironmentID != env.ID) {
			return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("release %d is not a release of %s", id, env.Name))
		}
		if err != nil {
			return nil, err
		}
		if msg := rollbackRefusal(target, live); msg != "" {
			return nil, echo.NewHTTPError(http.StatusConflict, msg)
		}
	}
	var r *models.Release
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if r, err = h.jobs.EnqueueDeploy(ctx, tx, jobs.DeployRequest{Env: env, Source: target, RollbackOf: &live.ID,
			Reason: models.ReasonRollback, By: &u.ID}); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditRollback, "release", idString(r.ID), map[string]any{
			"project": env.Project.Slug, "environment": env.Name, "rolled_back_release": live.ID, "restored_release": target.ID,
			"artifact_sha256": r.ArtifactSHA256, "config_version": r.ConfigVersion,
		}))
	})
	if err != nil {
		return nil, err
	}
	r.CreatedBy = u
	return r, nil
}

// rollbackRefusal says why target is no rollback target while live runs,
// or "" when it is one.
func rollbackRefusal(target, live *models.Release) string {
	ref := fmt.Sprintf("release #%d", target.ID)
	switch {
	case target.ID == live.ID || (target.ArtifactSHA256 == live.ArtifactSHA256 && target.ConfigVersion == live.ConfigVersion):
		return ref + " is what runs now"
	case target.Rejected:
		return ref + " was rolled back here and is rejected; deploy its build again if you really want it"
	case target.Status != models.ReleaseSuperseded:
		return ref + " never went live (it is " + target.Status + ")"
	}
	return ""
}

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
	r, err := h.startRollback(c, env, req.ReleaseID)
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
	r, err := h.startRollback(c, env, id)
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusConflict {
		return h.redirectWith(c, envPath(env), "error", he.Message.(string))
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
