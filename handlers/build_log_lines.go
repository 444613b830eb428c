package handlers

import "github.com/labstack/echo/v4"

// buildLogLines returns a page of a build's log as rendered lines; the
// viewer loads earlier (and later) pages with it as the reader scrolls.
func (h *Handler) buildLogLines(c echo.Context) error {
	b := buildFrom(c)
	return h.logLines(c, h.buildLogTarget(b))
}
