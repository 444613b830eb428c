package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// maxPromotionCommits bounds the commit list on a promotion page.
const maxPromotionCommits = 100

// showPromotion is the promotion page: the evidence and the decision.
func (h *Handler) showPromotion(c echo.Context) error {
	v, err := h.promotionView(c)
	if err != nil {
		return err
	}
	return h.render(c, fmt.Sprintf("Promotion #%d", v.ID), "approvals", pages.Promotion(v))
}

// promotionView is the promotion page of the :id promotion for the
// signed-in user.
func (h *Handler) promotionView(c echo.Context) (pages.PromotionPage, error) {
	ctx := c.Request().Context()
	p, err := h.promotionParam(c)
	if err != nil {
		return pages.PromotionPage{}, err
	}
	st, err := h.evaluate(ctx, p)
	if err != nil {
		return pages.PromotionPage{}, err
	}
	u := currentUser(c)
	v := pages.PromotionPage{Now: h.now(), CSRF: csrfToken(c), PromotionSummary: promotionSummary(p, st), StatusReason: p.StatusReason,
		Protected: st.Policy.Protected, ApproverRoles: st.Policy.RolesText(), SelfApproval: st.Policy.AllowSelfApproval,
		ConfigVersion: st.Candidate.ConfigVersion, Pending: p.Status == models.PromotionPending,
		LoadTestRequired: st.Policy.RequireLoadTest, LoadTestOK: st.Result.LoadTest.OK, LoadTestReason: st.Result.LoadTest.Reason}
	if p.SupersededByID != nil {
		v.SupersededBy = *p.SupersededByID
	}
	if p.SourceReleaseID != nil {
		v.SourceRelease = *p.SourceReleaseID
	}
	if p.ReleaseID != nil {
		v.Release = *p.ReleaseID
	}
	if b := p.Build; b != nil {
		v.BuildID, v.BuildStatus = b.ID, b.Status
		for _, s := range b.Steps {
			v.Steps = append(v.Steps, pages.StepView{Name: s.Name, Status: s.Status, Duration: (time.Duration(s.DurationMS) * time.Millisecond).Round(100 * time.Millisecond).String()})
		}
	}
	if f := st.Result.Freeze; f != nil {
		v.Freeze = f.Describe()
	}
	if p.FreezeOverrideBy != nil {
		v.FreezeOverride = "by " + p.FreezeOverrideBy.Username + ": " + p.FreezeOverrideReason
	}
	v.Decisions = decisionViews(p, st)
	if ev := p.FrozenEvidence(); ev != nil {
		applyFrozenEvidence(&v, p, ev)
	}

	live, err := h.store.LiveRelease(ctx, p.ToEnvironmentID)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return pages.PromotionPage{}, err
	}
	if live != nil {
		v.TargetLive = live.ID
	}
	v.Commits, v.CommitsNote = h.promotionCommits(ctx, p, live)
	if err := h.promotionConfig(ctx, &v, p, live); err != nil {
		return pages.PromotionPage{}, err
	}
	if err := h.promotionLoadTest(ctx, &v, p, u); err != nil {
		return pages.PromotionPage{}, err
	}
	if v.History, err = h.artifactHistory(ctx, p); err != nil {
		return pages.PromotionPage{}, err
	}

	if v.Pending {
		v.CanDecide, v.DecideRefusal = decideState(u, p, st)
		v.CanCancel = delivery.MayCancel(u, p)
		v.CanOverride = h.delivery.MayOverride(u, p, st)
	}
	return v, nil
}

// decideState says whether u may approve or reject p now, and why not
// (delivery.MayDecide, as the approve and reject actions enforce it).
func decideState(u *models.User, p *models.Promotion, st *delivery.PromotionState) (bool, string) {
	if err := delivery.MayDecide(u, p, st); err != nil {
		msg := err.Error()
		return false, strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	for _, a := range st.Result.Counted {
		if a.Approver.ID == u.ID {
			return false, "You approved this promotion; it counts."
		}
	}
	return true, ""
}

// decisionViews lists approvals and rejections, saying which count.
func decisionViews(p *models.Promotion, st *delivery.PromotionState) []pages.ApprovalView {
	counted := map[int64]bool{}
	for _, a := range st.Result.Counted {
		counted[a.Approver.ID] = true
	}
	stale := map[string]string{}
	for _, s := range st.Result.Stale {
		stale[strconv.FormatInt(s.Approval.Approver.ID, 10)+"@"+s.Approval.At.String()] = s.Why
	}
	var out []pages.ApprovalView
	for _, a := range p.Approvals {
		av := pages.ApprovalView{By: a.User.Username, Role: a.User.Role, Decision: a.Decision, Comment: a.Comment,
			ArtifactSHA256: a.ArtifactSHA256, ConfigVersion: a.ConfigVersion, At: a.CreatedAt}
		if a.Decision == models.DecisionApprove {
			av.Stale = stale[strconv.FormatInt(a.UserID, 10)+"@"+a.CreatedAt.String()]
			av.Counts = av.Stale == "" && counted[a.UserID]
			if !av.Counts && av.Stale == "" {
				av.Stale = "the same person approved again"
			}
		}
		out = append(out, av)
	}
	return out
}

// promotionCommits lists the commits between what is live in the target
// and the candidate, from the project's mirror.
func (h *Handler) promotionCommits(ctx context.Context, p *models.Promotion, live *models.Release) ([]pages.CommitView, string) {
	if p.Build == nil {
		return nil, "The build that made this artifact is gone, so its commit is unknown."
	}
	dir := h.jobs.MirrorDir(p.ProjectID)
	if p.Project.Hosted {
		dir = h.jobs.RepoDir(&p.Project)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, "There is no copy of the repository yet (it appears with the project's first build)."
	}
	from, note := "", ""
	switch {
	case live == nil:
		note = fmt.Sprintf("Nothing is live in %s yet: the last commits up to the candidate.", p.ToEnvironment.Name)
	case live.Build == nil:
		note = fmt.Sprintf("The build of the release live in %s is gone: the last commits up to the candidate.", p.ToEnvironment.Name)
	case live.Build.CommitSHA == p.Build.CommitSHA && p.Status == models.PromotionDeployed:
		return nil, fmt.Sprintf("This promotion put commit %s live in %s.", models.ShortSHA(p.Build.CommitSHA), p.ToEnvironment.Name)
	case live.Build.CommitSHA == p.Build.CommitSHA:
		return nil, fmt.Sprintf("%s runs the same commit (%s) already.", p.ToEnvironment.Name, models.ShortSHA(p.Build.CommitSHA))
	default:
		from = live.Build.CommitSHA
	}
	max := maxPromotionCommits
	if from == "" {
		max = 20
	}
	cs, err := gitrepo.Log(ctx, dir, from, p.Build.CommitSHA, max)
	if err != nil {
		return nil, "The commits could not be read from the repository copy: " + err.Error()
	}
	if len(cs) == 0 && from != "" {
		note = fmt.Sprintf("No new commits: the candidate is not ahead of what %s runs (a rollback, or an older build).", p.ToEnvironment.Name)
	}
	if len(cs) == max && from != "" {
		note = fmt.Sprintf("The newest %d commits are shown.", max)
	}
	out := make([]pages.CommitView, len(cs))
	for i, c := range cs {
		out[i] = pages.CommitView{SHA: c.SHA, Author: c.AuthorName, Subject: c.Subject, At: c.Time}
	}
	return out, note
}

// apiPromotion is GET /api/v1/promotions/:id.
func (h *Handler) apiPromotion(c echo.Context) error {
	p, err := h.promotionParam(c)
	if err != nil {
		return err
	}
	return h.promotionResponse(c, http.StatusOK, p.ID, nil)
}
