package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// cancelPromotion withdraws the :id promotion (delivery.Service.Cancel).
func (h *Handler) cancelPromotion(c echo.Context) (*models.Promotion, error) {
	p, err := h.promotionParam(c)
	if err != nil {
		return nil, err
	}
	return p, h.delivery.Cancel(c.Request().Context(), currentUser(c), p)
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
