package handlers

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

var usernameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// ValidateUsername explains what is wrong with a username, or returns nil.
func ValidateUsername(name string) error {
	if !usernameRE.MatchString(name) {
		return errors.New("username must be 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit")
	}
	return nil
}

// createUser adds an account; an empty password generates one shown once.
func (h *Handler) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("username"))
	roleText := c.FormValue("role")
	password := c.FormValue("password")
	fail := func(msg string) error {
		p, err := h.usersPage(c)
		if err != nil {
			return err
		}
		p.FormUsername, p.FormRole, p.FormError = name, roleText, msg
		return h.renderUsers(c, http.StatusUnprocessableEntity, p)
	}
	if err := ValidateUsername(name); err != nil {
		return fail(err.Error())
	}
	role, err := auth.ParseRole(roleText)
	if err != nil {
		return fail(err.Error())
	}
	generated := password == ""
	if generated {
		password = auth.NewPassword()
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fail(err.Error())
	}
	u := &models.User{Username: name, PasswordHash: hash, Role: string(role)}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditUserCreate, "user", idString(u.ID),
			map[string]any{"username": name, "role": role, "generated_password": generated}))
	})
	if errors.Is(err, models.ErrConflict) {
		return fail("a user called " + name + " already exists")
	}
	if err != nil {
		return err
	}
	if generated {
		p, err := h.usersPage(c)
		if err != nil {
			return err
		}
		p.NewUser, p.NewPassword = name, password
		return h.renderUsers(c, http.StatusCreated, p)
	}
	return h.redirectWith(c, "/admin/users", "success", "User "+name+" created.")
}
