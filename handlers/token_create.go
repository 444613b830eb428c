package handlers

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// createToken makes an API token and shows it once.
func (h *Handler) createToken(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	p, err := h.profilePage(c)
	if err != nil {
		return err
	}
	if name == "" || utf8.RuneCountInString(name) > 100 {
		p.FormError = "give the token a name of 1–100 characters"
		return h.renderProfile(c, http.StatusUnprocessableEntity, p)
	}
	token, prefix := auth.NewToken()
	t := &models.APIToken{UserID: currentUser(c).ID, Name: name, Hash: auth.HashSecret(token), Prefix: prefix}
	ctx := c.Request().Context()
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		// The name only: the token, its prefix and its hash stay out of the trail.
		return tx.AppendAudit(ctx, auditBy(c, models.AuditTokenCreate, "token", idString(t.ID),
			map[string]any{"name": name, "user": currentUser(c).Username}))
	})
	if err != nil {
		return err
	}
	// Post/Redirect/Get: the token rides once in a short-lived cookie
	// scoped to /profile, so reloading the page neither shows it again nor
	// creates another one.
	c.SetCookie(&http.Cookie{Name: newTokenCookie, Value: token, Path: "/profile", MaxAge: 120,
		HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, "/profile")
}

// newTokenCookie carries a just-created token to the one page view that
// shows it.
const newTokenCookie = "slipway_new_token"

// revokeToken revokes one of the user's own tokens.
func (h *Handler) revokeToken(c echo.Context) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := currentUser(c)
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.RevokeAPIToken(ctx, me.ID, id); err != nil {
			return err
		}
		details := map[string]any{"user": me.Username}
		if ts, err := tx.APITokens(ctx, me.ID); err == nil {
			for _, t := range ts {
				if t.ID == id {
					details["name"] = t.Name
				}
			}
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditTokenRevoke, "token", idString(id), details))
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/profile", "success", "Token revoked; it stops working at once.")
}
