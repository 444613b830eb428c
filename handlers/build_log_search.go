package handlers

import "github.com/labstack/echo/v4"

// searchBuildLog finds the lines of a build's whole log that contain a
// text.
func (h *Handler) searchBuildLog(c echo.Context) error {
	b := buildFrom(c)
	return h.logSearch(c, h.buildLogTarget(b))
}
