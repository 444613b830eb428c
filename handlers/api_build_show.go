package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// apiShowBuild answers one build with its steps and artifact.
func (h *Handler) apiShowBuild(c echo.Context) error {
	return c.JSON(http.StatusOK, toBuildDetailJSON(buildFrom(c)))
}
