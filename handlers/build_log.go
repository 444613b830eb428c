package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// buildLogRaw streams a build's whole stored log as plain text, one line
// per line (line 1 first). It serves the API and the page's raw download.
func (h *Handler) buildLogRaw(c echo.Context) error {
	b := buildFrom(c)
	ctx := c.Request().Context()
	stream := models.BuildLogStream(b.ID)
	first, err := h.logs.Read(ctx, stream, 1, 0)
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	hd.Set(echo.HeaderCacheControl, "no-store")
	hd.Set("X-Slipway-Build-Status", b.Status)
	hd.Set("X-Slipway-Log-Truncated", strconv.FormatBool(first.Truncated))
	if c.QueryParam("download") != "" {
		hd.Set(echo.HeaderContentDisposition, `attachment; filename="`+b.Project.Slug+"-build-"+idText(b.Number)+`.log"`)
	}
	c.Response().WriteHeader(http.StatusOK)
	page := first
	for {
		for _, l := range page.Lines {
			if _, err := c.Response().Write([]byte(l.Text + "\n")); err != nil {
				return nil // the client went away
			}
		}
		if len(page.Lines) == 0 {
			return nil
		}
		// Headers are sent: a failure now can only end the body early.
		if page, err = h.logs.Read(ctx, stream, page.Next, 0); err != nil {
			h.log.Warn("read build log", "build_id", b.ID, "err", err)
			return nil
		}
	}
}
