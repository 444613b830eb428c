package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// downloadLoadTestReport serves a finished run's report as a JSON file.
func (h *Handler) downloadLoadTestReport(c echo.Context) error {
	l, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	if l.Report == "" {
		return echo.NewHTTPError(http.StatusNotFound, "This run has no report yet: it is "+l.Status+".")
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="loadtest-`+idStr(l.ID)+`.json"`)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSONCharsetUTF8, []byte(l.Report))
}
