package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/views/pages"
)

// planFormFields are the form names of a plan's fields.
var planFormFields = []string{"name", "environment", "targets", "pacer", "rate", "rate_to", "duration", "timeout",
	"max_workers", "p95_ms", "p99_ms", "min_success_ratio", "min_throughput"}

// newLoadTestPlan shows an empty plan form with sensible defaults.
func (h *Handler) newLoadTestPlan(c echo.Context) error {
	f := planFields{"targets": "GET /\n", "pacer": "constant", "rate": "10", "duration": "30s", "timeout": "5s",
		"p95_ms": "500", "min_success_ratio": "0.99"}
	if env := c.QueryParam("environment"); env != "" {
		f["environment"] = env
	}
	return h.renderPlanForm(c, http.StatusOK, 0, f, nil, "")
}

// editLoadTestPlan shows a saved plan's form.
func (h *Handler) editLoadTestPlan(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := h.store.LoadTestPlan(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return h.renderPlanForm(c, http.StatusOK, p.ID, planToFields(p), nil, "")
}

// renderPlanForm draws the plan form with what was typed and its errors.
func (h *Handler) renderPlanForm(c echo.Context, status int, id int64, f planFields, fe fieldErrors, formErr string) error {
	ctx := c.Request().Context()
	envs, err := h.environmentOptions(ctx)
	if err != nil {
		return err
	}
	limits, err := h.store.LoadTestLimits(ctx)
	if err != nil {
		return err
	}
	if len(envs) == 0 && formErr == "" {
		formErr = "There is no environment to test yet: link a project first."
	}
	p := pages.LoadTestPlanForm{CSRF: csrfToken(c), ID: id, Environments: envs, Values: f, Errors: fe, FormError: formErr,
		MaxRate: fmtNum(limits.MaxRate) + " req/s", MaxDuration: limits.MaxDuration.String(),
		MaxWorkers: strconv.FormatInt(limits.MaxWorkers, 10)}
	title := "New load-test plan"
	if id != 0 {
		title = "Edit plan " + f["name"]
	}
	return h.renderStatus(c, status, title, "loadtests", pages.LoadTestPlanEdit(p))
}

// pathID parses the :id route parameter; a malformed one is a 404.
func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "There is no such load test or plan.")
	}
	return id, nil
}
