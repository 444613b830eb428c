package handlers

import "github.com/labstack/echo/v4"

// streamBuildLog is the browser's live log websocket (session auth):
// lines come rendered as HTML.
func (h *Handler) streamBuildLog(c echo.Context) error {
	b := buildFrom(c)
	return h.streamLog(c, h.buildLogTarget(b), buildLogState(b, h.now()), formatHTML)
}

// apiStreamBuildLog is the API's live log websocket (bearer token): lines
// come as raw text.
func (h *Handler) apiStreamBuildLog(c echo.Context) error {
	b := buildFrom(c)
	return h.streamLog(c, h.buildLogTarget(b), buildLogState(b, h.now()), formatRaw)
}
