package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// instancesError is a refused number of instances, worded for a person.
type instancesError struct{ msg string }

func (e *instancesError) Error() string { return e.msg }

// parseInstances reads a number of instances typed in a form: 1 to
// models.MaxInstances; blank (allowed only when blankOK) means "as the
// release's .slipway.yml says" and is 0.
func parseInstances(s string, blankOK bool) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" && blankOK {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > models.MaxInstances {
		return 0, &instancesError{fmt.Sprintf("Instances must be a whole number from 1 to %d.", models.MaxInstances)}
	}
	return n, nil
}

// saveInstances stores env's instances (with an audit event when the
// number changed) and queues the scale of the live pool, in one
// transaction. The same number scales again: the live pool may differ
// from the setting (after a rollback to a warm set of another size).
func (h *Handler) saveInstances(ctx context.Context, c echo.Context, env *models.Environment, n int) error {
	before := env.Instances
	return h.store.Tx(ctx, func(tx *models.Store) error {
		if n != before {
			if err := tx.SetEnvironmentInstances(ctx, env.ID, n); err != nil {
				return err
			}
			env.Instances = n
			if err := h.auditEnvironment(ctx, tx, c, models.AuditEnvUpdate, env, map[string]any{"changes": map[string]any{"instances": []any{before, n}}}); err != nil {
				return err
			}
		}
		if n == 0 || env.Target != models.TargetProcess {
			return nil // the next deploy decides
		}
		return h.jobs.EnqueueScale(ctx, tx, env.ID)
	})
}

// scaleEnvironment is the environment page's scale form.
func (h *Handler) scaleEnvironment(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	n, err := parseInstances(c.FormValue("instances"), false)
	if err != nil {
		return h.redirectWith(c, envPath(env), "error", err.Error())
	}
	if err := h.saveInstances(c.Request().Context(), c, env, n); err != nil {
		return err
	}
	return h.redirectWith(c, envPath(env), "success", fmt.Sprintf("%s scales to %d instance(s); the list below follows it.", env.Name, n))
}

// environmentPatch is the body of PATCH on an environment: only the
// fields given change.
type environmentPatch struct {
	Instances *int `json:"instances"`
}

// apiPatchEnvironment changes an environment's settings (today: its
// instances, which also scales the live pool without a deploy).
func (h *Handler) apiPatchEnvironment(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	var req environmentPatch
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Instances == nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "nothing to change: give instances")
	}
	if n := *req.Instances; n < 1 || n > models.MaxInstances {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("instances: %d is not a whole number from 1 to %d", n, models.MaxInstances))
	}
	if err := h.saveInstances(c.Request().Context(), c, env, *req.Instances); err != nil {
		return err
	}
	live, err := h.store.LiveReleases(c.Request().Context(), []int64{env.ID})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.environmentJSON(env, live[env.ID]))
}

// environmentInstances is the live list of the environment page's
// instances card alone, polled every second.
func (h *Handler) environmentInstances(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	return h.renderComponent(c, http.StatusOK, pages.InstancesList(h.instancesCard(c, env)))
}
