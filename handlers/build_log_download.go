package handlers

import "github.com/labstack/echo/v4"

// downloadBuildLog sends a build's whole log as a text file.
func (h *Handler) downloadBuildLog(c echo.Context) error {
	b := buildFrom(c)
	return h.logDownload(c, h.buildLogTarget(b))
}
