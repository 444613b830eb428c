package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// applyFrozenEvidence shows what a promotion that started deploying was
// decided on, instead of weighing its approvals against today's policy
// and configuration.
func applyFrozenEvidence(v *pages.PromotionPage, p *models.Promotion, ev *models.PromotionEvidence) {
	v.Frozen = ev.At
	v.Approvals, v.Required, v.ApproverRoles, v.ConfigVersion = len(ev.Counted), ev.Required, ev.ApproverRoles, ev.ConfigVersion
	v.LoadTestRequired, v.LoadTestOK, v.LoadTestReason = ev.LoadTestRequired, ev.LoadTestOK, ev.LoadTestReason
	for i, a := range p.Approvals {
		if i >= len(v.Decisions) || a.Decision != models.DecisionApprove {
			continue
		}
		d := &v.Decisions[i]
		d.Counts = slices.Contains(ev.Counted, a.ID)
		d.Stale = ""
		if !d.Counts {
			d.Stale = "it did not count when the promotion deployed"
		}
	}
}

// promotionConfig compares the configuration live in the target (before
// the promotion, once it deployed) with the configuration the promotion
// deploys: the target's own variables, never the source's. Secrets only
// as same or differs.
func (h *Handler) promotionConfig(ctx context.Context, v *pages.PromotionPage, p *models.Promotion, live *models.Release) error {
	to := p.ToEnvironment.Name
	base, deploys := live, (*models.Release)(nil)
	v.ConfigBaseLabel = to + " live now"
	switch {
	case p.Release != nil:
		deploys = p.Release
		v.ConfigBaseLabel = to + " before"
		prev, err := h.store.ReleaseBefore(ctx, p.ToEnvironmentID, p.Release.ID)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		base = prev
	case p.Status == models.PromotionPending:
		cand, err := h.jobs.ConfigCandidate(ctx, &p.ToEnvironment)
		if err != nil {
			return err
		}
		deploys = cand
	default:
		v.ConfigNote = fmt.Sprintf("This promotion was %s before it deployed, so it took no configuration of %s.", p.Status, to)
		return nil
	}
	v.ConfigDeploys = deploys.ConfigVersion
	if base != nil {
		v.ConfigBase = base.ConfigVersion
		v.ConfigBaseLabel += fmt.Sprintf(" (config v%d)", base.ConfigVersion)
	}
	rows, err := h.jobs.CompareConfig(base, deploys)
	if err != nil {
		return err
	}
	for _, r := range rows {
		v.Config = append(v.Config, pages.ConfigRowView{Name: r.Name, Secret: r.Secret, Left: r.Left, Right: r.Right, Status: r.Status})
	}
	switch {
	case base == nil && p.Release != nil:
		v.ConfigNote = fmt.Sprintf("Nothing was live in %s before; the promotion deployed config v%d.", to, deploys.ConfigVersion)
	case base == nil:
		v.ConfigNote = fmt.Sprintf("Nothing is live in %s yet; the promotion deploys config v%d of %s.", to, deploys.ConfigVersion, to)
	case base.ConfigVersion != deploys.ConfigVersion && p.Release != nil:
		v.ConfigNote = fmt.Sprintf("The promotion deployed config v%d of %s; v%d was live before.", deploys.ConfigVersion, to, base.ConfigVersion)
	case base.ConfigVersion != deploys.ConfigVersion:
		v.ConfigNote = fmt.Sprintf("The configuration of %s changed since its live release: the promotion deploys config v%d, not the live v%d.", to, deploys.ConfigVersion, base.ConfigVersion)
	case p.Release != nil:
		v.ConfigNote = fmt.Sprintf("The promotion deployed config v%d of %s, the same version as before.", deploys.ConfigVersion, to)
	default:
		v.ConfigNote = fmt.Sprintf("The promotion deploys config v%d of %s, the version live now.", deploys.ConfigVersion, to)
	}
	return nil
}

// maxLoadTestActions bounds the "Run load test" buttons of a closed gate.
const maxLoadTestActions = 3

// promotionLoadTest shows the load-test run of the artifact in the source
// environment with its numbers, and, when the gate is closed, how to run
// one.
func (h *Handler) promotionLoadTest(ctx context.Context, v *pages.PromotionPage, p *models.Promotion, u *models.User) error {
	var run *models.LoadTest
	var err error
	switch ev := p.FrozenEvidence(); {
	case ev != nil && ev.LoadTestID > 0:
		run, err = h.store.LoadTest(ctx, ev.LoadTestID)
	case ev != nil:
	default:
		run, err = h.store.PassedLoadTest(ctx, p.FromEnvironmentID, p.ArtifactSHA256)
		if errors.Is(err, models.ErrNotFound) {
			run, err = h.store.LastLoadTestOf(ctx, p.FromEnvironmentID, p.ArtifactSHA256)
		}
	}
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	if run != nil {
		v.LoadTest = loadTestEvidence(run)
	}
	if p.Status != models.PromotionPending || !v.LoadTestRequired || v.LoadTestOK || !auth.Can(roleOf(u), auth.RunLoadTest) {
		return nil
	}
	live, err := h.store.LiveRelease(ctx, p.FromEnvironmentID)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	if live == nil || live.ArtifactSHA256 != p.ArtifactSHA256 {
		v.LoadTestBlocked = fmt.Sprintf("%s no longer runs this artifact, so a load test there would test something else.", p.FromEnvironment.Name)
		return nil
	}
	v.NewPlanHref = "/loadtests/plans/new?environment=" + strconv.FormatInt(p.FromEnvironmentID, 10)
	plans, err := h.store.LoadTestPlans(ctx)
	if err != nil {
		return err
	}
	for _, pl := range plans {
		if pl.EnvironmentID == p.FromEnvironmentID && len(v.RunPlans) < maxLoadTestActions {
			v.RunPlans = append(v.RunPlans, pages.PlanAction{ID: pl.ID, Name: pl.Name})
		}
	}
	return nil
}

// loadTestEvidence is a run's numbers as the promotion page shows them.
func loadTestEvidence(l *models.LoadTest) *pages.LoadTestEvidence {
	e := &pages.LoadTestEvidence{ID: l.ID, Status: l.Status, ShortSHA: l.ShortSHA()}
	if l.FinishedAt != nil {
		e.At = *l.FinishedAt
	}
	var r loadtest.Report
	if l.Report != "" && json.Unmarshal([]byte(l.Report), &r) == nil {
		e.HasReport = true
		e.Requests, e.Rate, e.Success = r.Requests, r.Rate, r.Success
		e.P95, e.P99, e.Duration = r.Latencies.P95, r.Latencies.P99, r.Duration
	}
	return e
}

// artifactHistory is where the promotion's artifact went in the project's
// environments: deploys, failures, rollbacks and rejected promotions,
// newest first.
func (h *Handler) artifactHistory(ctx context.Context, p *models.Promotion) ([]pages.HistoryItem, error) {
	rels, err := h.store.ArtifactReleases(ctx, p.ProjectID, p.ArtifactSHA256, 20)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, r := range rels {
		ids = append(ids, r.ID)
	}
	rollbacks, err := h.store.RollbacksOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []pages.HistoryItem
	for _, r := range rels {
		it := pages.HistoryItem{At: r.CreatedAt, Env: r.Environment.Name, Href: "/releases/" + strconv.FormatInt(r.ID, 10), Ref: "release " + r.Ref()}
		if r.CreatedBy != nil {
			it.By = r.CreatedBy.Username
		}
		switch {
		case rollbacks[r.ID] != nil:
			rb := rollbacks[r.ID]
			it.At, it.Kind, it.Bad, it.By = rb.CreatedAt, "rolled back", true, ""
			if rb.CreatedBy != nil {
				it.By = rb.CreatedBy.Username
			}
		case r.Rejected || r.Status == models.ReleaseRolledBack:
			it.Kind, it.Bad = "rolled back", true
		case r.Status == models.ReleaseFailed:
			it.Kind, it.Bad, it.Detail = "deploy failed", true, r.Error
		case r.Status == models.ReleaseLive:
			it.Kind = "live"
		case r.Status == models.ReleaseSuperseded:
			it.Kind = "deployed, since replaced"
		default:
			it.Kind = "deploying"
		}
		out = append(out, it)
	}
	proms, err := h.store.Promotions(ctx, models.PromotionFilter{ProjectID: p.ProjectID, ArtifactSHA256: p.ArtifactSHA256,
		Statuses: []string{models.PromotionRejected}, Limit: 20})
	if err != nil {
		return nil, err
	}
	for _, o := range proms {
		for _, a := range o.Approvals {
			if a.Decision != models.DecisionReject {
				continue
			}
			out = append(out, pages.HistoryItem{At: a.CreatedAt, Env: o.ToEnvironment.Name, Kind: "promotion rejected", Bad: true,
				By: a.User.Username, Detail: a.Comment, Href: "/promotions/" + strconv.FormatInt(o.ID, 10), Ref: "promotion " + o.Ref()})
		}
	}
	slices.SortStableFunc(out, func(a, b pages.HistoryItem) int { return b.At.Compare(a.At) })
	return out, nil
}
