package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// mayCancel: the requester, a lead or an admin may cancel a pending
// promotion.
func mayCancel(u *models.User, p *models.Promotion) bool {
	if u == nil {
		return false
	}
	return (p.RequestedByID != nil && *p.RequestedByID == u.ID) || auth.Can(roleOf(u), auth.Approve)
}

// cancelPromotion withdraws the :id promotion.
func (h *Handler) cancelPromotion(c echo.Context) (*models.Promotion, error) {
	ctx := c.Request().Context()
	p, err := h.promotionParam(c)
	if err != nil {
		return nil, err
	}
	u := currentUser(c)
	if !mayCancel(u, p) {
		return nil, echo.NewHTTPError(http.StatusForbidden, "only the requester, a lead or an admin can cancel a promotion")
	}
	if p.Status != models.PromotionPending {
		return nil, notPending(p)
	}
	ok := false
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if ok, err = tx.FinishPromotion(ctx, p.ID, []string{models.PromotionPending}, models.PromotionCanceled, "canceled by "+u.Username); err != nil || !ok {
			return err
		}
		return h.audit(ctx, tx, c, models.AuditPromotionCancel, "promotion", p.ID, map[string]any{"environment": p.ToEnvironment.Name})
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notPending(p)
	}
	return p, nil
}

func (h *Handler) apiCancelPromotion(c echo.Context) error {
	p, err := h.cancelPromotion(c)
	if err != nil {
		return err
	}
	return h.promotionResponse(c, http.StatusOK, p.ID, nil)
}

func (h *Handler) cancelPromotionFromForm(c echo.Context) error {
	p, err := h.cancelPromotion(c)
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/promotions/"+strconv.FormatInt(p.ID, 10), "success", fmt.Sprintf("Promotion #%d is canceled.", p.ID))
}
