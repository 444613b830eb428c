package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/views/pages"
)

func roleNames() []string {
	out := make([]string, len(auth.Roles))
	for i, r := range auth.Roles {
		out[i] = string(r)
	}
	return out
}

// usersPage loads the user administration view model.
func (h *Handler) usersPage(c echo.Context) (pages.UsersPage, error) {
	us, err := h.store.Users(c.Request().Context())
	if err != nil {
		return pages.UsersPage{}, err
	}
	me := currentUser(c)
	p := pages.UsersPage{CSRF: csrfToken(c), Now: h.now(), Roles: roleNames(), FormRole: string(auth.Developer)}
	for _, u := range us {
		row := pages.UserRow{ID: u.ID, Username: u.Username, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt, IsSelf: u.ID == me.ID}
		if u.LastLoginAt != nil {
			row.LastLogin = *u.LastLoginAt
		}
		p.Users = append(p.Users, row)
	}
	return p, nil
}

// showUsers lists accounts for admins.
func (h *Handler) showUsers(c echo.Context) error {
	p, err := h.usersPage(c)
	if err != nil {
		return err
	}
	return h.render(c, "Users", "admin", pages.Users(p))
}

func (h *Handler) renderUsers(c echo.Context, status int, p pages.UsersPage) error {
	return h.renderStatus(c, status, "Users", "admin", pages.Users(p))
}
