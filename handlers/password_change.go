package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// changeOwnPassword changes the signed-in user's password (POST
// /profile/password). It needs the current password; the user's other
// sessions end, this one stays. Mistakes re-render the profile with the
// message next to the form.
func (h *Handler) changeOwnPassword(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	fail := func(msg string) error {
		p, err := h.profilePage(c)
		if err != nil {
			return err
		}
		p.PasswordError = msg
		return h.renderProfile(c, http.StatusUnprocessableEntity, p)
	}
	current, next := c.FormValue("current_password"), c.FormValue("new_password")
	ok, err := h.passwords.do(ctx, func() bool { return auth.CheckPassword(u.PasswordHash, current) })
	if err != nil {
		return err
	}
	if !ok {
		return fail("The current password is wrong.")
	}
	if next != c.FormValue("confirm_password") {
		return fail("The new password and its confirmation differ.")
	}
	if next == current {
		return fail("The new password is the same as the current one.")
	}
	hash, err := auth.HashPassword(next)
	if errors.Is(err, auth.ErrWeakPassword) {
		return fail("The new " + err.Error() + ".")
	}
	if err != nil {
		return err
	}
	keep := ""
	if sess, ok := c.Get(ctxSession).(*models.Session); ok {
		keep = sess.ID
	}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		ended, err := tx.SetUserPassword(ctx, u.ID, hash, keep)
		if err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditUserPassword, "user", idString(u.ID),
			map[string]any{"username": u.Username, "reset": false, "sessions_ended": ended}))
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/profile", "success", "Password changed. Your other sessions were signed out.")
}

// resetPassword sets another user's password as an admin: to the one
// given, or to a generated one returned once. Every session of that user
// ends. It returns the generated password ("" when one was given).
func (h *Handler) resetPassword(c echo.Context, target *models.User, password, via string) (string, error) {
	ctx := c.Request().Context()
	generated := ""
	if password == "" {
		password = auth.NewPassword()
		generated = password
	}
	hash, err := auth.HashPassword(password)
	if errors.Is(err, auth.ErrWeakPassword) {
		return "", echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	}
	if err != nil {
		return "", err
	}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		ended, err := tx.SetUserPassword(ctx, target.ID, hash, "")
		if err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditUserPassword, "user", idString(target.ID),
			map[string]any{"username": target.Username, "reset": true, "generated_password": generated != "", "sessions_ended": ended, "via": via}))
	})
	return generated, err
}

// resetPasswordFromForm is the users page's "Reset password" (POST
// /admin/users/:id/password): a generated password is shown once on the
// page; a typed one that is refused shows why there.
func (h *Handler) resetPasswordFromForm(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	target, err := h.store.User(ctx, id)
	if err != nil {
		return err
	}
	if target.ID == currentUser(c).ID {
		return h.redirectWith(c, "/profile", "info", "Change your own password on your profile, with your current one.")
	}
	generated, err := h.resetPassword(c, target, c.FormValue("password"), "ui")
	var he *echo.HTTPError
	if errors.As(err, &he) {
		p, perr := h.usersPage(c)
		if perr != nil {
			return perr
		}
		p.ResetUser, p.ResetError = target.Username, "Password for "+target.Username+" not changed: "+he.Message.(string)+"."
		return h.renderUsers(c, he.Code, p)
	}
	if err != nil {
		return err
	}
	if generated == "" {
		return h.redirectWith(c, "/admin/users", "success", "Password of "+target.Username+" changed; their sessions were signed out.")
	}
	p, err := h.usersPage(c)
	if err != nil {
		return err
	}
	p.NewUser, p.NewPassword = target.Username, generated
	return h.renderUsers(c, http.StatusOK, p)
}

// passwordRequest is the body of POST /api/v1/users/{name}/password.
type passwordRequest struct {
	// Password is the new password; empty generates one, returned once.
	Password string `json:"password"`
}

// apiResetPassword sets a user's password (admins): 200 with the user, and
// "password" when it was generated.
func (h *Handler) apiResetPassword(c echo.Context) error {
	var req passwordRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	target, err := h.store.UserByName(c.Request().Context(), c.Param("name"))
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no user "+c.Param("name"))
	}
	if err != nil {
		return err
	}
	generated, err := h.resetPassword(c, target, req.Password, "api")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userResponse{ID: target.ID, Username: target.Username, Role: target.Role, Disabled: target.Disabled, Password: generated})
}
