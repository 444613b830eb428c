package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// updateBranchProtection saves who may move a hosted project's default
// branch and whether a push may rewrite it (admins and leads; audited).
func (h *Handler) updateBranchProtection(c echo.Context) error {
	p := projectFrom(c)
	back := models.Path("projects", p.Slug)
	if !p.Hosted {
		return h.redirectWith(c, back, "error", "Branch protection applies to repositories Slipway hosts; protect a linked repository on its forge.")
	}
	protect := c.FormValue("push_default") == "leads"
	allowForce := c.FormValue("allow_force_push") == "true"
	changes := settingsChanges(
		map[string]any{"protect_default_branch": p.ProtectDefaultBranch, "allow_force_push": p.AllowForcePush},
		map[string]any{"protect_default_branch": protect, "allow_force_push": allowForce})
	if len(changes) == 0 {
		return h.redirectWith(c, back, "success", "Branch protection unchanged.")
	}
	ctx := c.Request().Context()
	err := h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetBranchProtection(ctx, p.ID, protect, allowForce); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditProjectProtect, "project", p.Slug, map[string]any{"branch": p.DefaultBranch, "changes": changes}))
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, back, "success", "Branch protection of "+p.DefaultBranch+" saved; it applies to the next push or commit.")
}
