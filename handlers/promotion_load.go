package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// promotionParam loads the promotion named by the :id route parameter,
// with everything its page shows.
func (h *Handler) promotionParam(c echo.Context) (*models.Promotion, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, echo.NewHTTPError(http.StatusNotFound, "no such promotion")
	}
	p, err := h.store.Promotion(c.Request().Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "no promotion "+c.Param("id"))
	}
	return p, err
}

// evaluate weighs a promotion against its target's policy now.
func (h *Handler) evaluate(ctx context.Context, p *models.Promotion) (*delivery.PromotionState, error) {
	return h.delivery.Evaluate(ctx, p, h.now())
}

// promotionSummary is a promotion as lists show it.
func promotionSummary(p *models.Promotion, st *delivery.PromotionState) pages.PromotionSummary {
	v := pages.PromotionSummary{ID: p.ID, Project: p.Project.Slug, ProjectName: p.Project.Name, From: p.FromEnvironment.Name,
		To: p.ToEnvironment.Name, Status: p.Status, ArtifactSHA256: p.ArtifactSHA256, CreatedAt: p.CreatedAt, RequestedBy: "(removed user)"}
	if p.RequestedBy != nil {
		v.RequestedBy = p.RequestedBy.Username
	}
	if b := p.Build; b != nil {
		v.BuildNumber, v.Ref, v.Commit = b.Number, b.Ref, b.CommitSHA
		v.CommitMessage, _, _ = strings.Cut(b.CommitMessage, "\n")
	}
	if st != nil {
		v.Approvals, v.Required = len(st.Result.Counted), st.Result.Required
		if p.Status == models.PromotionPending {
			v.Waiting = st.Result.Waiting
		}
	}
	if ev := p.FrozenEvidence(); ev != nil {
		// Decided on this evidence: today's policy does not rewrite it.
		v.Approvals, v.Required = len(ev.Counted), ev.Required
	}
	return v
}

// promotionJSON is a promotion in the API.
type promotionJSON struct {
	ID             int64     `json:"id"`
	Project        string    `json:"project"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	ArtifactSHA256 string    `json:"artifact_sha256"`
	Status         string    `json:"status"`
	StatusReason   string    `json:"status_reason,omitempty"`
	RequestedBy    string    `json:"requested_by,omitempty"`
	BuildID        *int64    `json:"build_id,omitempty"`
	SourceRelease  *int64    `json:"source_release_id,omitempty"`
	ReleaseID      *int64    `json:"release_id,omitempty"`
	SupersededBy   *int64    `json:"superseded_by,omitempty"`
	Superseded     []int64   `json:"superseded,omitempty"`
	Approvals      int       `json:"approvals"`
	Required       int       `json:"approvals_required"`
	Waiting        []string  `json:"waiting,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	URL            string    `json:"url"`
}

func toPromotionJSON(p *models.Promotion, st *delivery.PromotionState) promotionJSON {
	v := promotionSummary(p, st)
	return promotionJSON{ID: p.ID, Project: p.Project.Slug, From: v.From, To: v.To, ArtifactSHA256: p.ArtifactSHA256, Status: p.Status,
		StatusReason: p.StatusReason, RequestedBy: v.RequestedBy, BuildID: p.BuildID, SourceRelease: p.SourceReleaseID,
		ReleaseID: p.ReleaseID, SupersededBy: p.SupersededByID, Approvals: v.Approvals, Required: v.Required, Waiting: v.Waiting,
		CreatedAt: p.CreatedAt, URL: v.Href()}
}

// promotionResponse reloads a promotion and answers with its JSON.
func (h *Handler) promotionResponse(c echo.Context, status int, id int64, superseded []int64) error {
	ctx := c.Request().Context()
	p, err := h.store.Promotion(ctx, id)
	if err != nil {
		return err
	}
	st, err := h.evaluate(ctx, p)
	if err != nil {
		return err
	}
	out := toPromotionJSON(p, st)
	out.Superseded = superseded
	return c.JSON(status, out)
}

// audit records an action of the signed-in user in the audit trail, in
// the transaction tx that makes the change.
func (h *Handler) audit(ctx context.Context, tx *models.Store, c echo.Context, action, objectType string, objectID int64, details map[string]any) error {
	return tx.AppendAudit(ctx, auditBy(c, action, objectType, idString(objectID), details))
}
