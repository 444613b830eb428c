package live

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is a server websocket that only sends: the goroutine that owns it
// writes every data frame, and a reader of its own reads control frames,
// so pongs reset the read deadline and the client's close is seen. The
// log sockets and the load-test feed share it.
type Conn struct {
	ws       *websocket.Conn
	cfg      Config
	readDone chan struct{}
}

// Accept starts serving an upgraded connection: its reader runs until the
// client goes away or the connection is closed, and calls gone (if not
// nil) when it stops. Release the Conn when done.
func (v *Viewer) Accept(ws *websocket.Conn, gone func()) *Conn {
	c := &Conn{ws: ws, cfg: v.Config, readDone: make(chan struct{})}
	go func() {
		defer close(c.readDone)
		if gone != nil {
			defer gone()
		}
		c.readLoop()
	}()
	return c
}

// readLoop reads until the connection fails or closes. Clients send
// nothing but control frames; data frames are read and ignored.
func (c *Conn) readLoop() {
	c.ws.SetReadLimit(4 << 10)
	_ = c.ws.SetReadDeadline(time.Now().Add(c.cfg.PongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(c.cfg.PongWait))
	})
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(c.cfg.PongWait))
	}
}

// Gone is closed when the reader stopped: the client left, or the
// connection failed or was released.
func (c *Conn) Gone() <-chan struct{} { return c.readDone }

// Write sends one text frame within WriteWait.
func (c *Conn) Write(data []byte) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteWait))
	return c.ws.WriteMessage(websocket.TextMessage, data) == nil
}

// WriteJSON sends v as one text frame within WriteWait.
func (c *Conn) WriteJSON(v any) bool {
	data, err := json.Marshal(v)
	return err == nil && c.Write(data)
}

// writePrepared sends a frame framed once for many sockets.
func (c *Conn) writePrepared(m *websocket.PreparedMessage) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteWait))
	return c.ws.WritePreparedMessage(m) == nil
}

// Ping sends a ping; answering pongs keep the client's reader alive, and
// the traffic keeps proxies from closing an idle connection.
func (c *Conn) Ping() bool {
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteWait)) == nil
}

// Close sends a close frame and waits briefly for the client's answer.
func (c *Conn) Close(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.cfg.WriteWait)); err != nil {
		return
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}

// Release closes the connection and waits for its reader.
func (c *Conn) Release() {
	c.ws.Close()
	<-c.readDone
}

// Send writes each frame from frames until the channel closes (it
// reports true) or ctx ends, a write fails or the client leaves (false),
// pinging every Config.Ping meanwhile. It is the write pump of a feed
// whose frames need no batching.
func (c *Conn) Send(ctx context.Context, frames <-chan []byte) bool {
	ping := time.NewTicker(c.cfg.Ping)
	defer ping.Stop()
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return true
			}
			if !c.Write(f) {
				return false
			}
		case <-ping.C:
			if !c.Ping() {
				return false
			}
		case <-c.readDone:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
