package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/views/pages"
)

// showDashboard is the home screen. Admins are offered the demo project
// while there is none (prominently while no project is linked at all),
// and a link to its guide once it exists.
func (h *Handler) showDashboard(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	n, err := h.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	ps, err := h.store.Projects(ctx)
	if err != nil {
		return err
	}
	vm := pages.DashboardPage{
		Now: h.now(), Username: u.Username, Role: u.Role, UserCount: n, IsAdmin: u.Role == "admin",
		CSRF: csrfToken(c), ProjectCount: len(ps),
	}
	if vm.Home, err = h.dashboardHome(ctx, u); err != nil {
		return err
	}
	if vm.HomeSignature, err = pages.HomeSignature(ctx, vm.Home, vm.Now); err != nil {
		return err
	}
	if m, derr := h.demoMarker(); derr == nil && auth.Can(roleOf(u), auth.ManageDemo) {
		if p, err := findDemo(ps, m); err == nil {
			vm.DemoName = p.Name
		} else {
			vm.OfferDemo = true
		}
	}
	return h.render(c, "Dashboard", "dashboard", pages.Dashboard(vm))
}
