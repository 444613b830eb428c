package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// createUserRequest is POST /api/v1/users.
type createUserRequest struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// userResponse is a user as the API shows it (never the hash).
type userResponse struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
	// Password is set only when the server generated it.
	Password string `json:"password,omitempty"`
}

// apiCreateUser lets admins script account creation.
func (h *Handler) apiCreateUser(c echo.Context) error {
	var req createUserRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	req.Username = strings.TrimSpace(req.Username)
	if err := ValidateUsername(req.Username); err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	}
	resp := userResponse{Username: req.Username, Role: string(role)}
	if req.Password == "" {
		req.Password = auth.NewPassword()
		resp.Password = req.Password
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	}
	u := &models.User{Username: req.Username, PasswordHash: hash, Role: string(role)}
	ctx := c.Request().Context()
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditUserCreate, "user", idString(u.ID),
			map[string]any{"username": u.Username, "role": u.Role, "generated_password": resp.Password != "", "via": "api"}))
	})
	if errors.Is(err, models.ErrConflict) {
		return echo.NewHTTPError(http.StatusConflict, "a user called "+req.Username+" already exists")
	} else if err != nil {
		return err
	}
	resp.ID = u.ID
	return c.JSON(http.StatusCreated, resp)
}
