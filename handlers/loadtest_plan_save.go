package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// saveLoadTestPlan creates (POST /loadtests/plans) or updates (POST
// /loadtests/plans/:id) a plan; with run=1 it also starts a run.
func (h *Handler) saveLoadTestPlan(c echo.Context) error {
	ctx := c.Request().Context()
	var plan *models.LoadTestPlan
	if c.Param("id") != "" {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if plan, err = h.store.LoadTestPlan(ctx, id); err != nil {
			return err
		}
	}
	f := planFields{}
	for _, k := range planFormFields {
		f[k] = c.FormValue(k)
	}
	f["targets"] = strings.ReplaceAll(f["targets"], "\r\n", "\n")
	planID := int64(0)
	if plan != nil {
		planID = plan.ID
	}
	fe := fieldErrors{}
	name := strings.TrimSpace(f["name"])
	switch {
	case name == "":
		fe.add("name", "is required")
	case len(name) > 100:
		fe.add("name", "must be at most 100 characters")
	}
	var env *models.Environment
	envID, err := strconv.ParseInt(f["environment"], 10, 64)
	if err == nil {
		env, err = h.store.Environment(ctx, envID)
	}
	if err != nil {
		if !errors.Is(err, models.ErrNotFound) && f["environment"] != "" && envID != 0 {
			return err
		}
		fe.add("environment", "choose an environment")
	}
	spec := specFromFields(f, fe)
	limits, err := h.store.LoadTestLimits(ctx)
	if err != nil {
		return err
	}
	if env != nil {
		checkSpec(spec, env, limits, fe)
	}
	if len(fe) > 0 {
		return h.renderPlanForm(c, http.StatusUnprocessableEntity, planID, f, fe, "")
	}

	if plan == nil {
		plan = &models.LoadTestPlan{CreatedByID: &currentUser(c).ID}
	}
	plan.ProjectID, plan.EnvironmentID, plan.Name = env.ProjectID, env.ID, name
	applySpec(plan, spec)
	if plan.ID == 0 {
		err = h.store.CreateLoadTestPlan(ctx, plan)
	} else {
		err = h.store.UpdateLoadTestPlan(ctx, plan)
	}
	if errors.Is(err, models.ErrConflict) {
		fe.add("name", "a plan called "+name+" already exists in "+env.Project.Name)
		return h.renderPlanForm(c, http.StatusUnprocessableEntity, planID, f, fe, "")
	}
	if err != nil {
		return err
	}
	if c.FormValue("run") == "1" {
		return h.startPlanRun(c, plan.ID)
	}
	return h.redirectWith(c, "/loadtests", "success", "Plan "+name+" saved.")
}
