package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// overrideRequest is the body of POST /api/v1/promotions/:id/override-freeze.
type overrideRequest struct {
	Reason string `json:"reason"`
}

// overrideFreeze lets an admin deploy the :id promotion during a freeze
// of its target, with a reason (audited). Its approvals are still needed.
func (h *Handler) overrideFreeze(c echo.Context, reason string) (*models.Promotion, *models.Release, error) {
	ctx := c.Request().Context()
	p, err := h.promotionParam(c)
	if err != nil {
		return nil, nil, err
	}
	if p.Status != models.PromotionPending {
		return nil, nil, notPending(p)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, nil, badRequest("give a reason to override the freeze: it is kept in the audit trail")
	}
	if len(reason) > 1000 {
		return nil, nil, badRequest("the reason is longer than 1000 characters")
	}
	pol, err := jobs.PolicyOf(&p.ToEnvironment)
	if err != nil {
		return nil, nil, err
	}
	u := currentUser(c)
	override, err := pol.CheckDeploy(jobs.PersonOf(u), h.now(), reason)
	if err != nil {
		return nil, nil, refusal(err)
	}
	if !override {
		return nil, nil, echo.NewHTTPError(http.StatusConflict, p.ToEnvironment.Name+" is not frozen now: there is nothing to override")
	}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetPromotionFreezeOverride(ctx, p.ID, u.ID, reason); err != nil {
			return err
		}
		return h.audit(ctx, tx, c, models.AuditFreezeOverride, "promotion", p.ID, map[string]any{"environment": p.ToEnvironment.Name, "reason": reason})
	})
	if err != nil {
		return nil, nil, err
	}
	rel, err := h.jobs.AdvancePromotion(ctx, h.store, p.ID)
	if err != nil {
		h.log.Warn("advance promotion", slog.Int64("promotion", p.ID), slog.Any("err", err))
	}
	return p, rel, nil
}

func (h *Handler) apiOverrideFreeze(c echo.Context) error {
	var req overrideRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	p, _, err := h.overrideFreeze(c, req.Reason)
	if err != nil {
		return err
	}
	return h.promotionResponse(c, http.StatusOK, p.ID, nil)
}

func (h *Handler) overrideFreezeFromForm(c echo.Context) error {
	p, rel, err := h.overrideFreeze(c, c.FormValue("reason"))
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("The freeze of %s is overridden for promotion #%d.", p.ToEnvironment.Name, p.ID)
	if rel != nil {
		msg += fmt.Sprintf(" Release #%d is deploying.", rel.ID)
	}
	return h.redirectWith(c, "/promotions/"+strconv.FormatInt(p.ID, 10), "success", msg)
}
