package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// overrideRequest is the body of POST /api/v1/promotions/:id/override-freeze.
type overrideRequest struct {
	Reason string `json:"reason"`
}

// overrideFreeze lets someone allowed to (auth.OverrideFreeze) deploy
// the :id promotion during a freeze of its target, with a reason
// (delivery.Service.OverrideFreeze). Its approvals are still needed.
func (h *Handler) overrideFreeze(c echo.Context, reason string) (*models.Promotion, *models.Release, error) {
	p, err := h.promotionParam(c)
	if err != nil {
		return nil, nil, err
	}
	rel, err := h.delivery.OverrideFreeze(c.Request().Context(), currentUser(c), p, reason)
	return p, rel, err
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
