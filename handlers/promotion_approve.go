package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// decideRequest is the body of POST /api/v1/promotions/:id/approve and
// /reject.
type decideRequest struct {
	Comment string `json:"comment"`
}

// decide records the signed-in user's approval or rejection of the
// :id promotion (delivery.Service.Approve and Reject); an approval that
// meets the policy starts the deploy, returned.
func (h *Handler) decide(c echo.Context, decision, comment string) (*models.Promotion, *models.Release, error) {
	ctx := c.Request().Context()
	p, err := h.promotionParam(c)
	if err != nil {
		return nil, nil, err
	}
	if decision == models.DecisionReject {
		return p, nil, h.delivery.Reject(ctx, currentUser(c), p, comment)
	}
	rel, err := h.delivery.Approve(ctx, currentUser(c), p, comment)
	return p, rel, err
}

func (h *Handler) apiDecide(decision string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req decideRequest
		if c.Request().ContentLength != 0 {
			if err := bindJSON(c, &req); err != nil {
				return err
			}
		}
		p, _, err := h.decide(c, decision, req.Comment)
		if err != nil {
			return err
		}
		return h.promotionResponse(c, http.StatusOK, p.ID, nil)
	}
}

func (h *Handler) decideFromForm(decision string) echo.HandlerFunc {
	return func(c echo.Context) error {
		comment := c.FormValue("comment")
		p, rel, err := h.decide(c, decision, comment)
		var ve *delivery.ValidationError
		if errors.As(err, &ve) {
			// The form comes back with the message and what was typed,
			// not a bare error page.
			msg := ve.Error()
			v, err := h.promotionView(c)
			if err != nil {
				return err
			}
			v.DecideError, v.Comment = strings.ToUpper(msg[:1])+msg[1:]+".", comment
			return h.renderStatus(c, http.StatusUnprocessableEntity, fmt.Sprintf("Promotion #%d", v.ID), "approvals", pages.Promotion(v))
		}
		if err != nil {
			return err
		}
		to := "/promotions/" + strconv.FormatInt(p.ID, 10)
		switch {
		case decision == models.DecisionReject:
			return h.redirectWith(c, to, "success", fmt.Sprintf("You rejected promotion #%d.", p.ID))
		case rel != nil:
			return h.redirectWith(c, to, "success", fmt.Sprintf("You approved promotion #%d; release #%d is deploying to %s.", p.ID, rel.ID, p.ToEnvironment.Name))
		}
		return h.redirectWith(c, to, "success", fmt.Sprintf("You approved promotion #%d.", p.ID))
	}
}
