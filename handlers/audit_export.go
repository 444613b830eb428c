package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// exportAudit streams the filtered trail as CSV (every matching event;
// limit and before are ignored by the export).
func (h *Handler) exportAudit(c echo.Context) error {
	f, _, err := auditFilterFrom(c)
	if err != nil {
		return badRequest(err.Error())
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="slipway-audit-`+h.now().Format(time.DateOnly)+`.csv"`)
	res.Header().Set(echo.HeaderCacheControl, "no-store")
	res.WriteHeader(http.StatusOK)
	// Once the header is out a failure can only cut the file short; the
	// error is still returned so it is logged.
	return h.store.ExportAuditCSV(c.Request().Context(), res, f)
}
