package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// redirectBuildLog sends the build page's old raw-log address
// (/builds/:id/log, with or without ?download=1) to the one raw download
// the viewer links, /builds/:id/log.txt. Programs read the log at
// /api/v1/builds/:id/log.
func (h *Handler) redirectBuildLog(c echo.Context) error {
	return c.Redirect(http.StatusMovedPermanently, h.buildLogTarget(buildFrom(c)).LogURL+".txt")
}
