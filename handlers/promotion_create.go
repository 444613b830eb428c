package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// startPromotion asks for the release live in the :env environment to go
// live in the next one (delivery.Service.Promote).
func (h *Handler) startPromotion(c echo.Context) (*models.Promotion, []int64, error) {
	from, err := h.environmentParam(c)
	if err != nil {
		return nil, nil, err
	}
	return h.delivery.Promote(c.Request().Context(), currentUser(c), from)
}

// apiPromote is POST /api/v1/projects/:slug/environments/:env/promote:
// 201 with the promotion.
func (h *Handler) apiPromote(c echo.Context) error {
	if c.Request().ContentLength > 0 {
		var req struct{}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	p, superseded, err := h.startPromotion(c)
	if err != nil {
		return err
	}
	return h.promotionResponse(c, http.StatusCreated, p.ID, superseded)
}

// promoteFromForm is the "Promote to <next>" button.
func (h *Handler) promoteFromForm(c echo.Context) error {
	p, superseded, err := h.startPromotion(c)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Promotion #%d is asked for.", p.ID)
	if len(superseded) > 0 {
		msg += fmt.Sprintf(" It supersedes the pending promotion #%d.", superseded[len(superseded)-1])
	}
	return h.redirectWith(c, "/promotions/"+strconv.FormatInt(p.ID, 10), "success", msg)
}

// promoteView is the "Promote to <next>" control of env's page, or nil at
// the end of the chain.
func (h *Handler) promoteView(ctx context.Context, env *models.Environment) (*pages.PromoteView, error) {
	next, err := h.store.NextEnvironment(ctx, env)
	if errors.Is(err, models.ErrNoNextEnvironment) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := &pages.PromoteView{Action: models.Path("projects", env.Project.Slug, "environments", env.Name, "promote"), To: next.Name}
	ps, err := h.store.Promotions(ctx, models.PromotionFilter{EnvironmentID: next.ID, Statuses: []string{models.PromotionPending}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 && ps[0].ToEnvironmentID == next.ID {
		v.Pending = ps[0].ID
	}
	return v, nil
}
