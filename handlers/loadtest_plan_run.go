package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// runLoadTestPlan starts a run of a saved plan.
func (h *Handler) runLoadTestPlan(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	return h.startPlanRun(c, id)
}

// startPlanRun queues a run of plan id and shows it; a run that cannot
// start shows the plan's form with the reason.
func (h *Handler) startPlanRun(c echo.Context, id int64) error {
	ctx := c.Request().Context()
	plan, err := h.store.LoadTestPlan(ctx, id)
	if err != nil {
		return err
	}
	env, err := h.store.Environment(ctx, plan.EnvironmentID)
	if err != nil {
		return err
	}
	l, err := h.jobs.EnqueueLoadTest(ctx, h.store, jobs.LoadTestRequest{Env: env, PlanID: &plan.ID, Spec: planSpec(plan), By: &currentUser(c).ID})
	if errors.Is(err, models.ErrTooManyLoadTests) {
		return h.renderPlanForm(c, http.StatusTooManyRequests, plan.ID, planToFields(plan), nil,
			"The run was not started: "+tooManyText(ctx, h)+" Wait for one to finish, or ask an admin to raise the limit.")
	}
	if err != nil {
		fe := fieldErrors{}
		if !collectFieldErrors(fe, err) {
			return err
		}
		return h.renderPlanForm(c, http.StatusUnprocessableEntity, plan.ID, planToFields(plan), fe,
			"The run was not started: fix the plan or the environment.")
	}
	return h.redirectWith(c, "/loadtests/"+idStr(l.ID), "success", "Load test "+l.Ref()+" queued.")
}
