package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/slipway-ci/slipway/internal/auth"

	"github.com/slipway-ci/slipway/views/pages"
)

func (h *Handler) profilePage(c echo.Context) (pages.ProfilePage, error) {
	u := currentUser(c)
	ts, err := h.store.APITokens(c.Request().Context(), u.ID)
	if err != nil {
		return pages.ProfilePage{}, err
	}
	p := pages.ProfilePage{CSRF: csrfToken(c), Now: h.now(), Username: u.Username, Role: u.Role}
	for _, t := range ts {
		row := pages.TokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, Revoked: t.RevokedAt != nil}
		if t.LastUsedAt != nil {
			row.LastUsed = *t.LastUsedAt
		}
		p.Tokens = append(p.Tokens, row)
	}
	return p, nil
}

// showProfile shows the user's tokens.
func (h *Handler) showProfile(c echo.Context) error {
	p, err := h.profilePage(c)
	if err != nil {
		return err
	}
	if ck, err := c.Cookie(newTokenCookie); err == nil && strings.HasPrefix(ck.Value, auth.TokenPrefix) {
		p.NewToken = ck.Value
		c.SetCookie(&http.Cookie{Name: newTokenCookie, Value: "", Path: "/profile", MaxAge: -1,
			HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	return h.render(c, "Profile", "", pages.Profile(p))
}

func (h *Handler) renderProfile(c echo.Context, status int, p pages.ProfilePage) error {
	return h.renderStatus(c, status, "Profile", "", pages.Profile(p))
}
