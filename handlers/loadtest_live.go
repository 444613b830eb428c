package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// Websocket timings of the live load-test feed.
const (
	livePing      = 20 * time.Second
	liveWriteWait = 10 * time.Second
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

// sameOrigin admits a websocket handshake only from the portal's own
// pages: a browser always sends Origin, and it must name this host.
// Clients that are not browsers send none.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
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
	if !sameOrigin(c.Request()) {
		return echo.NewHTTPError(http.StatusForbidden, "websocket connections are only accepted from this portal's pages")
	}
	from, _ := strconv.Atoi(c.QueryParam("from"))
	up := websocket.Upgrader{CheckOrigin: sameOrigin}
	conn, err := up.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader already answered
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	// Reading detects the client going away; the feed is one-way.
	go func() {
		defer cancel()
		conn.SetReadLimit(512)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	if models.LoadTestFinished(l.Status) && l.Report != "" {
		// Finished before the page asked: no need to replay the stream.
		return writeEnd(conn, l.Status)
	}
	sub, err := h.logs.Subscribe(ctx, l.LogStream(), max(from, 1))
	if err != nil {
		return writeEnd(conn, l.Status)
	}
	defer sub.Close()

	events := make(chan liveFrame)
	go func() {
		defer close(events)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				return // io.EOF after the end frame, or ctx done
			}
			f := liveFrame{Type: "window", Line: ev.Line, Window: json.RawMessage(ev.Text)}
			if ev.End != nil {
				f = liveFrame{Type: "end", Status: ev.End.Status}
			} else if !json.Valid([]byte(ev.Text)) {
				continue
			}
			select {
			case events <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	ping := time.NewTicker(livePing)
	defer ping.Stop()
	for {
		select {
		case f, ok := <-events:
			if !ok {
				return nil
			}
			if f.Type == "end" {
				return writeEnd(conn, f.Status)
			}
			if err := writeFrame(conn, f); err != nil {
				return nil
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(liveWriteWait)); err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// writeEnd sends the end frame, then closes the connection properly (1000),
// so clients see a normal closure rather than a dropped connection.
func writeEnd(conn *websocket.Conn, status string) error {
	if err := writeFrame(conn, liveFrame{Type: "end", Status: status}); err != nil {
		return nil
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "run finished")
	_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(liveWriteWait))
	return nil
}

func writeFrame(conn *websocket.Conn, f liveFrame) error {
	_ = conn.SetWriteDeadline(time.Now().Add(liveWriteWait))
	return conn.WriteJSON(f)
}
