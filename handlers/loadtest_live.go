package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/logs/live"
	"github.com/slipway-ci/slipway/models"
)

// liveFrame is one message of the live feed: a window (one JSON line of
// the run's stream, as the worker wrote it) or the end with the final
// status.
type liveFrame struct {
	Type   string          `json:"type"` // "window" | "end"
	Line   int             `json:"line,omitempty"`
	Window json.RawMessage `json:"window,omitempty"`
	Status string          `json:"status,omitempty"`
}

// liveLoadTest streams a run's windows over a websocket: those so far from
// ?from= (a line number, default 1), then each new one as it closes, then
// an end frame with the final status.
func (h *Handler) liveLoadTest(c echo.Context) error {
	l, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	if h.logs == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "live updates are not available in this process")
	}
	if !websocket.IsWebSocketUpgrade(c.Request()) {
		return badRequest("this address serves a websocket: connect with a websocket client")
	}
	if !live.OriginAllowed(c.Request(), false) {
		return echo.NewHTTPError(http.StatusForbidden, "websocket connections are only accepted from this portal's pages")
	}
	from, _ := strconv.Atoi(c.QueryParam("from"))
	ws, err := h.logv.Upgrade(c.Response(), c.Request(), false)
	if err != nil {
		return nil // the upgrader already answered
	}
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	// The shared write pump pings and notices the client going away; the
	// feed is one-way.
	conn := h.logv.Accept(ws, cancel)
	defer conn.Release()

	if models.LoadTestFinished(l.Status) && l.Report != "" {
		// Finished before the page asked: no need to replay the stream.
		writeEnd(conn, l.Status)
		return nil
	}
	sub, err := h.logs.Subscribe(ctx, l.LogStream(), max(from, 1))
	if err != nil {
		writeEnd(conn, l.Status)
		return nil
	}
	defer sub.Close()

	frames := make(chan []byte)
	end := ""
	go func() {
		defer close(frames)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				return // io.EOF after the end frame, or ctx done
			}
			if ev.End != nil {
				end = ev.End.Status
				return
			}
			if !json.Valid([]byte(ev.Text)) {
				continue
			}
			f, _ := json.Marshal(liveFrame{Type: "window", Line: ev.Line, Window: json.RawMessage(ev.Text)})
			select {
			case frames <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	// end is written before frames is closed, and read after.
	if conn.Send(ctx, frames) && end != "" {
		writeEnd(conn, end)
	}
	return nil
}

// writeEnd sends the end frame, then closes the connection properly (1000),
// so clients see a normal closure rather than a dropped connection.
func writeEnd(conn *live.Conn, status string) {
	if conn.WriteJSON(liveFrame{Type: "end", Status: status}) {
		conn.Close(websocket.CloseNormalClosure, "run finished")
	}
}
