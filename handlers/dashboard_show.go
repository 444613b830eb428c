package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/views/pages"
)

// showDashboard is the home screen.
func (h *Handler) showDashboard(c echo.Context) error {
	u := currentUser(c)
	n, err := h.store.CountUsers(c.Request().Context())
	if err != nil {
		return err
	}
	return h.render(c, "Dashboard", "dashboard", pages.Dashboard(pages.DashboardPage{
		Now: h.now(), Username: u.Username, Role: u.Role, UserCount: n, IsAdmin: u.Role == "admin",
	}))
}
