package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

func userIDParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "no such user")
	}
	return id, nil
}

// keepsAnAdmin refuses changes that would leave no enabled admin.
func (h *Handler) keepsAnAdmin(ctx context.Context, target *models.User) error {
	if target.Role != string(auth.Admin) || target.Disabled {
		return nil
	}
	n, err := h.store.CountActiveAdmins(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return echo.NewHTTPError(http.StatusConflict, "this is the last enabled admin; make someone else admin first")
	}
	return nil
}

// setUserRole changes a user's role.
func (h *Handler) setUserRole(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	role, err := auth.ParseRole(c.FormValue("role"))
	if err != nil {
		return badRequest(err.Error())
	}
	target, err := h.store.User(ctx, id)
	if err != nil {
		return err
	}
	if role != auth.Admin {
		if err := h.keepsAnAdmin(ctx, target); err != nil {
			return h.redirectWith(c, "/admin/users", "error", err.(*echo.HTTPError).Message.(string))
		}
	}
	if target.Role == string(role) {
		return h.redirectWith(c, "/admin/users", "info", target.Username+" already is "+string(role)+".")
	}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetUserRole(ctx, id, string(role)); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditUserRole, "user", idString(id),
			map[string]any{"username": target.Username, "from": target.Role, "to": role}))
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/admin/users", "success", target.Username+" is now "+string(role)+".")
}

// setUserDisabled disables or re-enables a user; disabling ends their
// sessions and stops their tokens.
func (h *Handler) setUserDisabled(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	disabled, err := strconv.ParseBool(c.FormValue("disabled"))
	if err != nil {
		return badRequest("disabled must be true or false")
	}
	target, err := h.store.User(ctx, id)
	if err != nil {
		return err
	}
	if target.ID == currentUser(c).ID {
		return h.redirectWith(c, "/admin/users", "error", "You cannot disable yourself.")
	}
	if disabled {
		if err := h.keepsAnAdmin(ctx, target); err != nil {
			return h.redirectWith(c, "/admin/users", "error", err.(*echo.HTTPError).Message.(string))
		}
	}
	word, action := "enabled", models.AuditUserEnable
	if disabled {
		word, action = "disabled", models.AuditUserDisable
	}
	if target.Disabled == disabled {
		return h.redirectWith(c, "/admin/users", "info", target.Username+" already is "+word+".")
	}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetUserDisabled(ctx, id, disabled); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, action, "user", idString(id), map[string]any{"username": target.Username}))
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/admin/users", "success", target.Username+" is "+word+".")
}
