package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// apiLoadTestThresholds are a request's thresholds.
type apiLoadTestThresholds struct {
	P95MS           *float64 `json:"p95_ms"`
	P99MS           *float64 `json:"p99_ms"`
	MinSuccessRatio *float64 `json:"min_success_ratio"`
	MinThroughput   *float64 `json:"min_throughput"`
}

// apiLoadTestRequest starts a run: of a saved plan (plan_id), or of a plan
// given inline.
type apiLoadTestRequest struct {
	PlanID      *int64                 `json:"plan_id"`
	Environment string                 `json:"environment"`
	Targets     string                 `json:"targets"`
	Rate        *float64               `json:"rate"`
	RateTo      *float64               `json:"rate_to"`
	Pacer       string                 `json:"pacer"`
	Duration    string                 `json:"duration"`
	Timeout     string                 `json:"timeout"`
	MaxWorkers  *float64               `json:"max_workers"`
	Thresholds  *apiLoadTestThresholds `json:"thresholds"`
}

// fields maps the request onto the form's fields, so both share parsing.
func (r apiLoadTestRequest) fields() planFields {
	f := planFields{"targets": r.Targets, "pacer": r.Pacer, "duration": r.Duration, "timeout": r.Timeout}
	num := func(name string, v *float64) {
		if v != nil {
			f[name] = fmtNum(*v)
		}
	}
	num("rate", r.Rate)
	num("rate_to", r.RateTo)
	num("max_workers", r.MaxWorkers)
	if t := r.Thresholds; t != nil {
		num("p95_ms", t.P95MS)
		num("p99_ms", t.P99MS)
		num("min_success_ratio", t.MinSuccessRatio)
		num("min_throughput", t.MinThroughput)
	}
	return f
}

// apiFieldName maps a form field back to the API's JSON name.
func apiFieldName(f string) string {
	switch f {
	case "p95_ms", "p99_ms", "min_success_ratio", "min_throughput":
		return "thresholds." + f
	}
	return f
}

// apiCreateLoadTest starts a load test of one of the project's
// environments: 201 {"id"}; 422 naming each bad field; 429 over the
// concurrent-runs cap.
func (h *Handler) apiCreateLoadTest(c echo.Context) error {
	ctx := c.Request().Context()
	var req apiLoadTestRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	project, envs, err := h.store.ProjectEnvironments(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	var env *models.Environment
	var spec loadtest.Spec
	var planID *int64
	if req.PlanID != nil {
		if req.Targets != "" || req.Rate != nil || req.Duration != "" || req.Environment != "" {
			return h.fieldErrorsJSON(c, fieldErrors{"plan_id": "give either plan_id or an inline plan, not both"})
		}
		plan, err := h.store.LoadTestPlan(ctx, *req.PlanID)
		if errors.Is(err, models.ErrNotFound) || (err == nil && plan.ProjectID != project.ID) {
			return h.fieldErrorsJSON(c, fieldErrors{"plan_id": "project " + project.Slug + " has no plan with that id"})
		}
		if err != nil {
			return err
		}
		planID, spec = &plan.ID, planSpec(plan)
		env, err = h.store.Environment(ctx, plan.EnvironmentID)
		if err != nil {
			return err
		}
	} else {
		names := make([]string, len(envs))
		for i := range envs {
			names[i] = envs[i].Name
			if envs[i].Name == req.Environment {
				env = &envs[i]
			}
		}
		if env == nil {
			fe.add("environment", "must name one of the project's environments ("+strings.Join(names, ", ")+")")
		}
		spec = specFromFields(req.fields(), fe)
		if len(fe) > 0 {
			return h.fieldErrorsJSON(c, fe)
		}
	}
	l, err := h.jobs.EnqueueLoadTest(ctx, h.store, jobs.LoadTestRequest{Env: env, PlanID: planID, Spec: spec, By: &currentUser(c).ID})
	if errors.Is(err, models.ErrTooManyLoadTests) {
		return echo.NewHTTPError(http.StatusTooManyRequests, strings.TrimSuffix(tooManyText(ctx, h), ".")+"; retry when one finishes").WithInternal(err)
	}
	if err != nil {
		if collectFieldErrors(fe, err) {
			return h.fieldErrorsJSON(c, fe)
		}
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/loadtests/"+idStr(l.ID))
	return c.JSON(http.StatusCreated, map[string]any{"id": l.ID})
}

// fieldErrorsJSON answers 422 with every field's problem: "error" reads as
// one sentence, "fields" maps each JSON field name to its message.
func (h *Handler) fieldErrorsJSON(c echo.Context, fe fieldErrors) error {
	api := fieldErrors{}
	for k, v := range fe {
		api[apiFieldName(k)] = v
	}
	return apiError(c, http.StatusUnprocessableEntity, "invalid load test: "+api.String(), "", api)
}
