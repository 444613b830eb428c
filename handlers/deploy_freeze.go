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
// form field freeze_override_reason). The same rule
// (policy.Policy.CheckDeploy) holds promotions back. When an admin's
// reason lets the deploy through, it returns the details of the
// freeze.override audit event; the caller appends it in the transaction that queues the release, so a
// deploy refused later (unknown build, no secret key) leaves no override
// behind.
func (h *Handler) checkFreeze(c echo.Context, env *models.Environment) (map[string]any, error) {
	pol, err := jobs.PolicyOf(env)
	if err != nil {
		return nil, err
	}
	reason, _ := c.Get(ctxFreezeReason).(string)
	if !isAPI(c) {
		reason = c.FormValue("freeze_override_reason")
	}
	reason = strings.TrimSpace(reason)
	override, err := pol.CheckDeploy(jobs.PersonOf(currentUser(c)), h.now(), reason)
	if errors.Is(err, policy.ErrOverrideReason) {
		return nil, badRequest(err.Error())
	}
	if err != nil {
		return nil, refusal(err)
	}
	if !override {
		return nil, nil
	}
	return map[string]any{"environment": env.Name, "project": env.Project.Slug, "reason": reason, "action": "deploy"}, nil
}
