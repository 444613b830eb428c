package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// meResponse is GET /api/v1/me.
type meResponse struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}

// apiMe tells a token's owner who they are.
func (h *Handler) apiMe(c echo.Context) error {
	u := currentUser(c)
	return c.JSON(http.StatusOK, meResponse{Username: u.Username, Role: u.Role})
}
