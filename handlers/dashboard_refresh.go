package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/views/pages"
)

// refreshDashboardHome answers the dashboard's poll (GET /dashboard/home
// ?since=<signature>): 204 while the role's sections would render as the
// page shows them, else the new sections, which htmx swaps in place.
func (h *Handler) refreshDashboardHome(c echo.Context) error {
	ctx := c.Request().Context()
	home, err := h.dashboardHome(ctx, currentUser(c))
	if err != nil {
		return err
	}
	now := h.now()
	sig, err := pages.HomeSignature(ctx, home, now)
	if err != nil {
		return err
	}
	if sig == c.QueryParam("since") {
		return c.NoContent(http.StatusNoContent)
	}
	return h.renderComponent(c, http.StatusOK, pages.DashboardHomeLive(home, now, sig))
}
