package handlers

import (
	"github.com/labstack/echo/v4"

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
	return h.render(c, "Profile", "", pages.Profile(p))
}

func (h *Handler) renderProfile(c echo.Context, status int, p pages.ProfilePage) error {
	return h.renderStatus(c, status, "Profile", "", pages.Profile(p))
}
