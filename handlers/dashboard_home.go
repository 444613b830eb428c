package handlers

import (
	"context"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// Dashboard list sizes: each section is a glance with a "see all" link.
const (
	homeRows     = 5
	homeProjects = 6
	// homeBuiltWindow is how far back "projects you build" looks.
	homeBuiltWindow = 30 * 24 * time.Hour
)

// dashboardHome fills the sections that fit u's role.
func (h *Handler) dashboardHome(ctx context.Context, u *models.User) (pages.DashboardHome, error) {
	var v pages.DashboardHome
	role := roleOf(u)
	if !auth.Can(role, auth.ViewProjects) {
		return v, nil // every section shows project data
	}
	admin := role == auth.Admin
	v.ShowApprovals = admin || role == auth.Lead
	v.ShowLive = admin || role == auth.Lead || role == auth.Viewer
	v.ShowLoadTests = admin || role == auth.QA
	v.ShowBuilds = admin || role == auth.Developer
	if v.ShowApprovals {
		if err := h.homeApprovals(ctx, u, &v); err != nil {
			return v, err
		}
	}
	if v.ShowLive {
		if err := h.homeLive(ctx, &v); err != nil {
			return v, err
		}
	}
	if v.ShowLoadTests {
		if err := h.homeLoadTests(ctx, u, &v); err != nil {
			return v, err
		}
	}
	if v.ShowBuilds {
		if err := h.homeBuilds(ctx, u, &v); err != nil {
			return v, err
		}
	}
	return v, nil
}

// homeApprovals lists the promotions u may decide: the inbox's query.
func (h *Handler) homeApprovals(ctx context.Context, u *models.User, v *pages.DashboardHome) error {
	ids, err := h.waitingFor(ctx, u)
	if err != nil || len(ids) == 0 {
		return err
	}
	v.WaitingTotal = len(ids)
	ps, err := h.store.Promotions(ctx, models.PromotionFilter{IDs: ids, Limit: homeRows})
	if err != nil {
		return err
	}
	for i := range ps {
		st, err := h.evaluate(ctx, &ps[i])
		if err != nil {
			return err
		}
		v.Waiting = append(v.Waiting, promotionSummary(&ps[i], st))
	}
	return nil
}

// homeLive is the environments overview in brief: each project's
// environments and the release live in each.
func (h *Handler) homeLive(ctx context.Context, v *pages.DashboardHome) error {
	envs, _, live, err := h.environmentsLive(ctx)
	if err != nil {
		return err
	}
	projects := 0
	for i := range envs {
		e := &envs[i]
		if n := len(v.Live); n == 0 || v.Live[n-1].Slug != e.Project.Slug {
			if projects++; projects > homeProjects {
				v.MoreProjects++
				continue
			}
			v.Live = append(v.Live, pages.LiveProject{Slug: e.Project.Slug, Name: e.Project.Name})
		} else if projects > homeProjects {
			continue
		}
		le := pages.LiveEnv{Name: e.Name}
		if r := live[e.ID]; r != nil {
			rv := releaseView(r, e.Project.Slug, e.Name)
			le.Live = &rv
		}
		g := &v.Live[len(v.Live)-1]
		g.Envs = append(g.Envs, le)
	}
	return nil
}

// homeLoadTests lists u's saved plans and the last runs u started or
// that ran u's plans.
func (h *Handler) homeLoadTests(ctx context.Context, u *models.User, v *pages.DashboardHome) error {
	plans, err := h.store.UserLoadTestPlans(ctx, u.ID, homeRows)
	if err != nil {
		return err
	}
	for i := range plans {
		pl := &plans[i]
		v.Plans = append(v.Plans, pages.LoadTestPlanRow{ID: pl.ID, Name: pl.Name, Project: pl.Project.Name,
			Environment: pl.Environment.Name, Load: planLoad(pl)})
	}
	runs, err := h.store.LoadTests(ctx, models.LoadTestFilter{OwnerID: u.ID, Limit: homeRows})
	if err != nil {
		return err
	}
	for i := range runs {
		v.Runs = append(v.Runs, runRow(&runs[i]))
	}
	return nil
}

// homeBuilds lists the builds u started and recent failures in the
// projects u built in lately.
func (h *Handler) homeBuilds(ctx context.Context, u *models.User, v *pages.DashboardHome) error {
	mine, err := h.store.Builds(ctx, models.BuildFilter{TriggeredByID: u.ID, Limit: homeRows})
	if err != nil {
		return err
	}
	for i := range mine {
		v.MyBuilds = append(v.MyBuilds, buildRow(&mine[i]))
	}
	projects, err := h.store.BuiltProjectIDs(ctx, u.ID, h.now().Add(-homeBuiltWindow))
	if err != nil {
		return err
	}
	failed, err := h.store.Builds(ctx, models.BuildFilter{ProjectIDs: projects,
		Statuses: []string{models.BuildFailed, models.BuildInterrupted}, Limit: homeRows})
	if err != nil {
		return err
	}
	for i := range failed {
		v.Failures = append(v.Failures, buildRow(&failed[i]))
	}
	return nil
}
