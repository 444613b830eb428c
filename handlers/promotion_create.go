package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// startPromotion asks for the release live in the :env environment to go
// live in the next one. The promotion deploys at once when the target's
// policy is already met; otherwise it waits for approvals (or the end of a
// freeze, or a load test).
func (h *Handler) startPromotion(c echo.Context) (*models.Promotion, []int64, error) {
	ctx := c.Request().Context()
	from, err := h.environmentParam(c)
	if err != nil {
		return nil, nil, err
	}
	to, err := h.store.NextEnvironment(ctx, from)
	if errors.Is(err, models.ErrNoNextEnvironment) {
		return nil, nil, echo.NewHTTPError(http.StatusConflict, from.Name+" is the last environment of "+from.Project.Slug+": there is nothing to promote to")
	}
	if err != nil {
		return nil, nil, err
	}
	src, err := h.store.LiveRelease(ctx, from.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, echo.NewHTTPError(http.StatusConflict, "nothing is live in "+from.Name+" to promote: deploy a build there first")
	}
	if err != nil {
		return nil, nil, err
	}
	u := currentUser(c)
	p := &models.Promotion{ProjectID: from.ProjectID, FromEnvironmentID: from.ID, ToEnvironmentID: to.ID, SourceReleaseID: &src.ID,
		BuildID: src.BuildID, ArtifactSHA256: src.ArtifactSHA256, ConfigVersion: to.ConfigVersion, RequestedByID: &u.ID}
	var superseded []int64
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if superseded, err = tx.CreatePromotion(ctx, p); err != nil {
			return err
		}
		return h.audit(ctx, tx, c, models.AuditPromotionCreate, "promotion", p.ID, map[string]any{
			"project": from.Project.Slug, "from": from.Name, "to": to.Name, "artifact_sha256": p.ArtifactSHA256,
			"source_release": src.ID, "superseded": superseded,
		})
	})
	if err != nil {
		return nil, nil, err
	}
	// A promotion that needs nothing deploys now; one that cannot start
	// (no secret key, say) stays pending and the sweep tries again.
	if _, err := h.jobs.AdvancePromotion(ctx, h.store, p.ID); err != nil {
		h.log.Warn("advance promotion", slog.Int64("promotion", p.ID), slog.Any("err", err))
	}
	return p, superseded, nil
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
