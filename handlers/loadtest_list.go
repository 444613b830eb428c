package handlers

import (
	"context"
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showLoadTests lists recent runs and the saved plans.
func (h *Handler) showLoadTests(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	runs, err := h.store.LoadTests(ctx, models.LoadTestFilter{Limit: 50})
	if err != nil {
		return err
	}
	plans, err := h.store.LoadTestPlans(ctx)
	if err != nil {
		return err
	}
	envs, err := h.environmentOptions(ctx)
	if err != nil {
		return err
	}
	deployed := map[int64]bool{}
	for _, e := range envs {
		deployed[e.ID] = e.Deployed
	}
	limits, err := h.store.LoadTestLimits(ctx)
	if err != nil {
		return err
	}
	p := pages.LoadTestsPage{CSRF: csrfToken(c), Now: h.now(), CanRun: auth.Can(roleOf(u), auth.RunLoadTest),
		HasEnvironments: len(envs) > 0, Limits: limitsText(limits), IsAdmin: auth.Can(roleOf(u), auth.ManageLoadTestLimits)}
	for i := range runs {
		p.Runs = append(p.Runs, runRow(&runs[i]))
	}
	for i := range plans {
		pl := &plans[i]
		p.Plans = append(p.Plans, pages.LoadTestPlanRow{ID: pl.ID, Name: pl.Name, Project: pl.Project.Name,
			Environment: pl.Environment.Name, Load: planLoad(pl), Deployed: deployed[pl.EnvironmentID]})
	}
	return h.render(c, "Load tests", "loadtests", pages.LoadTests(p))
}

// planLoad summarizes a plan's load ("50 req/s for 30s").
func planLoad(pl *models.LoadTestPlan) string {
	if pl.Pacer == "linear" {
		return fmt.Sprintf("%s → %s req/s over %s", fmtNum(pl.Rate), fmtNum(pl.RateTo), pl.Duration)
	}
	return fmt.Sprintf("%s req/s for %s", fmtNum(pl.Rate), pl.Duration)
}

// runRow is a run as lists show it.
func runRow(l *models.LoadTest) pages.LoadTestRunRow {
	r := pages.LoadTestRunRow{ID: l.ID, Ref: l.Ref(), Project: l.Project.Name, Environment: l.Environment.Name,
		Status: l.Status, Verdict: l.Verdict, Artifact: l.ShortSHA(), CreatedAt: l.CreatedAt, Plan: "inline spec"}
	if l.Plan != nil {
		r.Plan = l.Plan.Name
	}
	if l.CreatedBy != nil {
		r.By = l.CreatedBy.Username
	}
	return r
}

// environmentOptions lists every environment with whether something is
// deployed there.
func (h *Handler) environmentOptions(ctx context.Context) ([]pages.EnvironmentOption, error) {
	envs, err := h.store.AllEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(envs))
	for i, e := range envs {
		ids[i] = e.ID
	}
	live, err := h.store.LiveReleases(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]pages.EnvironmentOption, len(envs))
	for i, e := range envs {
		out[i] = pages.EnvironmentOption{ID: e.ID, Project: e.Project.Name, Name: e.Name, Deployed: live[e.ID] != nil && e.URL() != ""}
	}
	return out, nil
}
