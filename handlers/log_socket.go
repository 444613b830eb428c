package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/logs/live"
)

// streamLog answers a log websocket: it checks the request, upgrades it
// and hands the connection to the live-log engine (internal/logs/live),
// which replays the stream from ?from= (default 1), then sends new lines
// live, then an end frame and a close frame. The protocol is in
// docs/logs.md. The browser endpoint defaults to HTML lines, the API
// endpoint to raw text; ?format= overrides. st is the owner's state as
// the caller just read it.
func (h *Handler) streamLog(c echo.Context, t logTarget, st logState, def live.Format) error {
	r := c.Request()
	from := 1
	if v := c.QueryParam("from"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("from must be a line number (1 or more)")
		}
		from = n
	}
	format := def
	switch f := live.Format(c.QueryParam("format")); f {
	case "":
	case live.FormatHTML, live.FormatRaw:
		format = f
	default:
		return badRequest("format must be html or raw")
	}
	api := isAPI(c)
	if !live.OriginAllowed(r, api) {
		return echo.NewHTTPError(http.StatusForbidden, "the websocket's Origin does not match this site")
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return badRequest("this endpoint speaks websocket: send an Upgrade: websocket handshake")
	}
	if h.logs == nil {
		return errors.New("handlers: log socket: no log service configured")
	}
	conn, err := h.logv.Upgrade(c.Response(), r, api)
	if err != nil {
		return nil // Upgrade has answered the client already
	}
	req := live.Request{
		Stream: t.Stream, From: from, Format: format, Initial: st.live(),
		State: func(ctx context.Context) (live.State, error) {
			st, err := t.State(ctx)
			return st.live(), err
		},
	}
	h.logv.Serve(context.WithoutCancel(r.Context()), conn, req, h.log.With(slog.String("stream", t.Stream)))
	return nil
}
