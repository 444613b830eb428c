package handlers

import (
	"context"
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/layout"
	"github.com/slipway-ci/slipway/views/pages"
)

// waitingFor returns the IDs of the pending promotions u may approve and
// has not approved for their current artifact and configuration. It is
// cheap (two queries) because every page's navigation shows the count.
func (h *Handler) waitingFor(ctx context.Context, u *models.User) ([]int64, error) {
	if u == nil || !auth.Can(roleOf(u), auth.Approve) {
		return nil, nil
	}
	pending, err := h.store.PendingPromotions(ctx)
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	ids := make([]int64, len(pending))
	for i := range pending {
		ids[i] = pending[i].ID
	}
	mine, err := h.store.UserApprovals(ctx, u.ID, ids)
	if err != nil {
		return nil, err
	}
	var out []int64
	who := delivery.PersonOf(u)
	for i := range pending {
		p := &pending[i]
		pol, err := delivery.PolicyOf(&p.ToEnvironment)
		if err != nil {
			return nil, err
		}
		if pol.Required() == 0 {
			continue // it waits for something else, not for anyone's approval
		}
		cand := delivery.CandidateOf(p, p.ToEnvironment.ConfigVersion)
		if pol.MayApprove(who, cand) != nil {
			continue
		}
		done := false
		for _, a := range mine {
			done = done || (a.PromotionID == p.ID && a.ArtifactSHA256 == cand.ArtifactSHA256 && a.ConfigVersion == cand.ConfigVersion)
		}
		if !done {
			out = append(out, p.ID)
		}
	}
	return out, nil
}

// pendingApprovals is the navigation's count; an error shows 0 and is
// logged rather than breaking every page.
func (h *Handler) pendingApprovals(c echo.Context) int {
	ids, err := h.waitingFor(c.Request().Context(), currentUser(c))
	if err != nil {
		h.log.Warn("pending approvals count", slog.Any("err", err))
	}
	return len(ids)
}

// approvalsCount is the htmx fragment the navigation polls.
func (h *Handler) approvalsCount(c echo.Context) error {
	return h.renderComponent(c, 200, layout.ApprovalsCount(h.pendingApprovals(c)))
}

// showApprovals is the inbox.
func (h *Handler) showApprovals(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	v := pages.ApprovalsPage{Now: h.now(), CanApprove: auth.Can(roleOf(u), auth.Approve)}
	ids, err := h.waitingFor(ctx, u)
	if err != nil {
		return err
	}
	summaries := func(f models.PromotionFilter) ([]pages.PromotionSummary, error) {
		ps, err := h.store.Promotions(ctx, f)
		if err != nil {
			return nil, err
		}
		out := make([]pages.PromotionSummary, 0, len(ps))
		for i := range ps {
			st, err := h.evaluate(ctx, &ps[i])
			if err != nil {
				return nil, err
			}
			out = append(out, promotionSummary(&ps[i], st))
		}
		return out, nil
	}
	if len(ids) > 0 {
		if v.Waiting, err = summaries(models.PromotionFilter{IDs: ids}); err != nil {
			return err
		}
	}
	if v.Mine, err = summaries(models.PromotionFilter{RequestedByID: u.ID, Limit: 20}); err != nil {
		return err
	}
	if v.CanApprove {
		if v.Recent, err = summaries(models.PromotionFilter{Statuses: []string{models.PromotionDeploying, models.PromotionDeployed,
			models.PromotionFailed, models.PromotionRejected}, Limit: 10}); err != nil {
			return err
		}
	}
	return h.render(c, "Approvals", "approvals", pages.Approvals(v))
}
