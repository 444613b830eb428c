package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/logs/live"
)

// logSource gives the log of the object a route's loader put in the
// context (buildFrom, releaseFrom), with its owner's state as loaded.
type logSource func(c echo.Context) (logTarget, logState)

// logRoutes are the log endpoints of one kind of log owner. routes.go
// registers each once per owner, behind the owner's loader, so builds
// and releases share every handler (docs/logs.md lists the routes).
type logRoutes struct {
	// Lines answers …/log/lines and Search …/log/search (the viewer's
	// paging and search).
	Lines, Search echo.HandlerFunc
	// Text is the raw log inline (/api/v1/…/log); Download is the same as
	// an attachment (…/log.txt, the viewer's "Download raw").
	Text, Download echo.HandlerFunc
	// Socket is the browser's websocket (session, lines as HTML);
	// APISocket is the API's (bearer token, lines as raw text).
	Socket, APISocket echo.HandlerFunc
}

// logRoutesFor makes the log endpoints of the logs src describes.
func (h *Handler) logRoutesFor(src logSource) logRoutes {
	text := func(attachment bool) echo.HandlerFunc {
		return func(c echo.Context) error {
			t, st := src(c)
			return h.logText(c, t, st, attachment)
		}
	}
	socket := func(format live.Format) echo.HandlerFunc {
		return func(c echo.Context) error {
			t, st := src(c)
			return h.streamLog(c, t, st, format)
		}
	}
	return logRoutes{
		Lines: func(c echo.Context) error {
			t, _ := src(c)
			return h.logLines(c, t)
		},
		Search: func(c echo.Context) error {
			t, _ := src(c)
			return h.logSearch(c, t)
		},
		Text: text(false), Download: text(true),
		Socket: socket(live.FormatHTML), APISocket: socket(live.FormatRaw),
	}
}

// buildLog is the log of the build loadBuild loaded.
func (h *Handler) buildLog(c echo.Context) (logTarget, logState) {
	b := buildFrom(c)
	return h.buildLogTarget(b), buildLogState(b, h.now())
}

// releaseLog is the deploy log of the release loadRelease loaded.
func (h *Handler) releaseLog(c echo.Context) (logTarget, logState) {
	r := releaseFrom(c)
	return h.releaseLogTarget(r), releaseLogState(r)
}
