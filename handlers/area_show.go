package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/views/pages"
)

// areas are the navigation areas whose screens list nothing yet.
var areas = map[string]pages.AreaPage{
	"environments": {Title: "Environments", Empty: "No environments yet", Hint: "Each project's dev, staging and production will be listed here."},
}

// showArea renders an area's landing page.
func (h *Handler) showArea(key string) echo.HandlerFunc {
	a := areas[key]
	return func(c echo.Context) error {
		return h.render(c, a.Title, key, pages.Area(a))
	}
}
