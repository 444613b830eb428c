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
	"github.com/slipway-ci/slipway/views/pages"
)

// maxComment bounds an approval's comment.
const maxComment = 4000

// decideRequest is the body of POST /api/v1/promotions/:id/approve and
// /reject.
type decideRequest struct {
	Comment string `json:"comment"`
}

// decide records the signed-in user's approval or rejection of the
// :id promotion, after the target's policy says they may; an approval
// that meets the policy starts the deploy.
func (h *Handler) decide(c echo.Context, decision, comment string) (*models.Promotion, *models.Release, error) {
	ctx := c.Request().Context()
	p, err := h.promotionParam(c)
	if err != nil {
		return nil, nil, err
	}
	if p.Status != models.PromotionPending {
		return nil, nil, notPending(p)
	}
	comment = strings.TrimSpace(comment)
	if msg := commentProblem(decision, comment); msg != "" {
		return nil, nil, badRequest(msg)
	}
	st, err := h.evaluate(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	u := currentUser(c)
	if err := st.Policy.MayApprove(jobs.PersonOf(u), st.Candidate); err != nil {
		return nil, nil, refusal(err)
	}
	a := &models.Approval{PromotionID: p.ID, UserID: u.ID, Decision: decision, Comment: comment,
		ArtifactSHA256: p.ArtifactSHA256, ConfigVersion: st.Candidate.ConfigVersion}
	reason := ""
	action := models.AuditApprove
	if decision == models.DecisionReject {
		reason, action = "rejected by "+u.Username+": "+comment, models.AuditReject
	}
	ok := false
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if ok, err = tx.AddApproval(ctx, a, reason); err != nil || !ok {
			return err
		}
		return h.audit(ctx, tx, c, action, "promotion", p.ID, map[string]any{
			"comment": comment, "artifact_sha256": a.ArtifactSHA256, "environment": p.ToEnvironment.Name, "config_version": a.ConfigVersion,
		})
	})
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		if p, err = h.store.Promotion(ctx, p.ID); err != nil {
			return nil, nil, err
		}
		return nil, nil, notPending(p)
	}
	var rel *models.Release
	if decision == models.DecisionApprove {
		if rel, err = h.jobs.AdvancePromotion(ctx, h.store, p.ID); err != nil {
			h.log.Warn("advance promotion", slog.Int64("promotion", p.ID), slog.Any("err", err))
		}
	}
	return p, rel, nil
}

// commentProblem says what is wrong with a decision's comment (trimmed),
// or "": a rejection must say why, and a comment has a length cap.
func commentProblem(decision, comment string) string {
	if len(comment) > maxComment {
		return fmt.Sprintf("the comment is longer than %d characters", maxComment)
	}
	if decision == models.DecisionReject && comment == "" {
		return "a rejection needs a comment saying why"
	}
	return ""
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
		if msg := commentProblem(decision, strings.TrimSpace(comment)); msg != "" {
			// The form comes back with the message and what was typed,
			// not a bare error page.
			v, err := h.promotionView(c)
			if err != nil {
				return err
			}
			v.DecideError, v.Comment = strings.ToUpper(msg[:1])+msg[1:]+".", comment
			return h.renderStatus(c, http.StatusUnprocessableEntity, fmt.Sprintf("Promotion #%d", v.ID), "approvals", pages.Promotion(v))
		}
		p, rel, err := h.decide(c, decision, comment)
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
