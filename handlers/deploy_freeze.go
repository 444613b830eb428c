package handlers

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// ctxFreezeReason carries the freeze override reason of an API deploy
// (bound from its JSON body) to checkFreeze.
const ctxFreezeReason = "slipway.freeze_override_reason"

// checkFreeze applies the target's freeze windows to a direct deploy:
// during a freeze only an admin deploys, with a reason (the JSON field or
// form field freeze_override_reason), and the override is audited. The
// same rule (policy.Policy.CheckDeploy) holds promotions back.
func (h *Handler) checkFreeze(c echo.Context, env *models.Environment) error {
	pol, err := jobs.PolicyOf(env)
	if err != nil {
		return err
	}
	reason, _ := c.Get(ctxFreezeReason).(string)
	if !isAPI(c) {
		reason = c.FormValue("freeze_override_reason")
	}
	reason = strings.TrimSpace(reason)
	override, err := pol.CheckDeploy(jobs.PersonOf(currentUser(c)), h.now(), reason)
	if errors.Is(err, policy.ErrOverrideReason) {
		return badRequest(err.Error())
	}
	if err != nil {
		return refusal(err)
	}
	if override {
		ctx := c.Request().Context()
		return h.audit(ctx, h.store, c, models.AuditFreezeOverride, "environment", env.ID, map[string]any{
			"environment": env.Name, "project": env.Project.Slug, "reason": reason, "action": "deploy",
		})
	}
	return nil
}
