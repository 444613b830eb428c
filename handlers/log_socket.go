package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/logs"
)

// lineFormat is how a socket sends lines: rendered HTML or raw text.
type lineFormat string

const (
	formatHTML lineFormat = "html"
	formatRaw  lineFormat = "raw"
)

// streamLog answers a log websocket: it replays the stream from ?from=
// (default 1), then sends new lines live, then an end frame and a close
// frame. The protocol is in docs/logs.md. The browser endpoint defaults
// to HTML lines, the API endpoint to raw text; ?format= overrides. st is
// the owner's state as the caller just read it.
func (h *Handler) streamLog(c echo.Context, t logTarget, st logState, def lineFormat) error {
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
	switch f := lineFormat(c.QueryParam("format")); f {
	case "":
	case formatHTML, formatRaw:
		format = f
	default:
		return badRequest("format must be html or raw")
	}
	if !originAllowed(r, isAPI(c)) {
		return echo.NewHTTPError(http.StatusForbidden, "the websocket's Origin does not match this site")
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return badRequest("this endpoint speaks websocket: send an Upgrade: websocket handshake")
	}
	if h.logs == nil {
		return errors.New("handlers: log socket: no log service configured")
	}
	conn, err := h.logv.upgrader.Upgrade(c.Response(), r, nil)
	if err != nil {
		return nil // Upgrade has answered the client already
	}
	s := &logSocket{
		h: h, conn: conn, t: t, format: format, next: from, cfg: h.logv.cfg,
		log: h.log.With(slog.String("stream", t.Stream)),
	}
	s.run(context.WithoutCancel(r.Context()), st)
	return nil
}

// logSocket is one open log websocket. Two goroutines serve it: run
// (the writer: it alone writes data frames) and readLoop (reads control
// frames, so pongs and the client's close are seen). Lines come from the
// stream's shared feed (log_feed.go) while the socket's next line is in
// the feed's window; otherwise from a subscription of the socket's own,
// with a third goroutine (pump) moving its events to the writer in
// batches. All end when the connection does; run waits for the others.
type logSocket struct {
	h      *Handler
	conn   *websocket.Conn
	t      logTarget
	format lineFormat
	cfg    socketConfig
	log    *slog.Logger

	// next is the number of the next line to send.
	next int
	// lastState is the last state frame sent.
	lastState []byte
	frame     []byte
}

// batch is what pump hands the writer: consecutive events, or an error.
type batch struct {
	events []logs.Event
	err    error
}

// ownFollow is a socket's own subscription, used while the feed cannot
// serve the socket.
type ownFollow struct {
	sub     *logs.Subscription
	batches chan batch
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// follow subscribes the socket on its own from its next line.
func (s *logSocket) follow(ctx context.Context) (*ownFollow, error) {
	octx, cancel := context.WithCancel(ctx)
	sub, err := s.h.logs.Subscribe(octx, s.t.Stream, s.next)
	if err != nil {
		cancel()
		return nil, err
	}
	o := &ownFollow{sub: sub, batches: make(chan batch, 4), cancel: cancel}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		pump(octx, sub, o.batches, s.cfg.MaxLines)
	}()
	return o, nil
}

// stop ends the subscription and waits for its pump; nil does nothing.
func (o *ownFollow) stop() {
	if o == nil {
		return
	}
	o.cancel()
	o.sub.Close()
	o.wg.Wait()
}

// feedFramesPerLook bounds the frames a socket writes before it looks at
// its other duties (pings, state, the client leaving).
const feedFramesPerLook = 16

func (s *logSocket) run(parent context.Context, st logState) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	readDone := make(chan struct{})
	var own *ownFollow
	defer func() {
		cancel()
		own.stop()
		s.conn.Close()
		wg.Wait()
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(readDone)
		defer cancel()
		s.readLoop()
	}()

	var rendered *renderedStream
	if s.format == formatHTML {
		rendered = s.h.logv.rendered.acquire(s.t.Stream)
		defer s.h.logv.rendered.release(rendered)
	}

	if !s.sendState(st) {
		return
	}
	if s.ownerGone(st) && s.drain(ctx, rendered, st, readDone) {
		return
	}

	// A feed this socket starts begins at the stream's stored end, not at
	// this socket's line: the feed serves the live end, and one socket's
	// ?from= (1 on a long log, or far past the end) must not send every
	// later viewer onto a subscription of its own.
	start := s.next
	if p, err := s.h.logs.Tail(ctx, s.t.Stream, 1); err == nil {
		start = p.Total + 1
	}
	feed := s.h.logv.feeds.acquire(s.h.logs, s.t.Stream, s.format, start, s.cfg)
	defer s.h.logv.feeds.release(feed)

	ping := time.NewTicker(s.cfg.Ping)
	defer ping.Stop()
	stateTick := time.NewTicker(s.cfg.StateEvery)
	defer stateTick.Stop()
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	armed := false
	var pending []logs.Event
	var lastFlush time.Time

	send := func() bool {
		for len(pending) > 0 {
			n := min(len(pending), s.cfg.MaxLines)
			if !s.sendLines(pending[:n], rendered) {
				return false
			}
			clear(pending[:n])
			pending = pending[n:]
		}
		pending = pending[:0]
		lastFlush = time.Now()
		return true
	}

	// ready is always ready: after writing feed frames the select below
	// only looks at its other duties (pings, state, the client leaving)
	// without waiting, so a reader that always has frames waiting still
	// gets its pings.
	ready := make(chan struct{})
	close(ready)
	followed := false // the socket has followed the feed
	for {
		var batches <-chan batch
		var changed, more <-chan struct{}
		if own == nil {
			v := feed.view(s.next, feedFramesPerLook)
			if !v.off {
				followed = true
			}
			switch {
			case len(v.frames) > 0:
				if !s.sendFrames(v.frames) || ctx.Err() != nil {
					return
				}
				more = ready
			case v.end != nil:
				s.finish(*v.end, readDone)
				return
			case v.off:
				if followed {
					s.h.logv.feeds.left.Add(1)
				}
				var err error
				if own, err = s.follow(ctx); err != nil {
					s.fail(err, readDone)
					return
				}
			default:
				changed = v.changed
			}
		}
		if own != nil {
			batches = own.batches
			changed = feed.changedChan()
		}
		select {
		case <-more:
		case b, ok := <-batches:
			if !ok {
				return // pump ended: the connection is going away
			}
			if b.err != nil {
				if !send() {
					return
				}
				s.fail(b.err, readDone)
				return
			}
			var end *logs.End
			want := s.next + len(pending)
			for _, ev := range b.events {
				if ev.End != nil {
					end = ev.End
					break
				}
				if ev.Line < want {
					continue // already sent from the store by drain
				}
				pending = append(pending, ev)
				want = ev.Line + 1
			}
			switch {
			case end != nil:
				if send() {
					s.finish(*end, readDone)
				}
				return
			case len(pending) >= s.cfg.MaxLines || time.Since(lastFlush) >= s.cfg.FlushEvery:
				// A line after a quiet spell goes out at once; under load
				// lines wait at most FlushEvery to share a frame.
				if armed {
					flush.Stop()
					armed = false
				}
				if !send() {
					return
				}
			case !armed:
				flush.Reset(s.cfg.FlushEvery - time.Since(lastFlush))
				armed = true
			}
		case <-changed:
			// The feed moved: a socket on its own subscription joins it
			// once it has sent what it holds and its next line is in the
			// feed's window.
			if own != nil && len(pending) == 0 && feed.covers(s.next) {
				own.stop()
				own = nil
				s.h.logv.feeds.joined.Add(1)
			}
		case <-flush.C:
			armed = false
			if !send() {
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteWait)); err != nil {
				return
			}
		case <-stateTick.C:
			st, err := s.t.State(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("log socket: read state", slog.Any("err", err))
				}
				continue
			}
			if !s.sendState(st) {
				return
			}
			if s.ownerGone(st) {
				if !send() {
					return
				}
				if s.drain(ctx, rendered, st, readDone) {
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// sendFrames writes the feed's frames, the first from the socket's next
// line on. A frame that starts there is written as prepared, shared by
// every socket; only a socket joining in the middle of a frame builds its
// own copy of the frame's tail.
func (s *logSocket) sendFrames(frs []*feedFrame) bool {
	for _, fr := range frs {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteWait))
		var err error
		switch {
		case s.next != fr.from:
			s.h.logv.feeds.tails.Add(1)
			s.frame = fr.appendTail(s.frame[:0], s.next)
			err = s.conn.WriteMessage(websocket.TextMessage, s.frame)
		case fr.msg != nil:
			err = s.conn.WritePreparedMessage(fr.msg)
		default:
			err = s.conn.WriteMessage(websocket.TextMessage, fr.data)
		}
		if err != nil {
			return false
		}
		s.next = fr.from + fr.count
	}
	if cap(s.frame) > 1<<20 {
		s.frame = nil
	}
	return true
}

// pump reads the subscription and hands the writer batches of up to max
// events: one waited for, plus those already buffered. It blocks only
// itself when the writer is slow; the hub never waits for it.
func pump(ctx context.Context, sub *logs.Subscription, out chan<- batch, max int) {
	defer close(out)
	// Next with a cancelled context returns only what is buffered.
	buffered, cancelBuffered := context.WithCancel(context.Background())
	cancelBuffered()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				select {
				case out <- batch{err: err}:
				case <-ctx.Done():
				}
			}
			return
		}
		evs := make([]logs.Event, 1, min(max, 64))
		evs[0] = ev
		for ev.End == nil && len(evs) < max {
			if ev, err = sub.Next(buffered); err != nil {
				break
			}
			evs = append(evs, ev)
		}
		select {
		case out <- batch{events: evs}:
		case <-ctx.Done():
			return
		}
		if evs[len(evs)-1].End != nil {
			return
		}
	}
}

// readLoop reads until the connection fails or closes. Clients send
// nothing but control frames; data frames are read and ignored.
func (s *logSocket) readLoop() {
	s.conn.SetReadLimit(4 << 10)
	_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.PongWait))
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(s.cfg.PongWait))
	})
	for {
		if _, _, err := s.conn.ReadMessage(); err != nil {
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.PongWait))
	}
}

// write sends one text frame within WriteWait.
func (s *logSocket) write(data []byte) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteWait))
	return s.conn.WriteMessage(websocket.TextMessage, data) == nil
}

// sendLines sends one "lines" frame. The events are consecutive and start
// at s.next.
func (s *logSocket) sendLines(evs []logs.Event, rendered *renderedStream) bool {
	f := append(s.frame[:0], `{"t":"lines","from":`...)
	f = strconv.AppendInt(f, int64(evs[0].Line), 10)
	f = append(f, `,"lines":[`...)
	if rendered != nil {
		f = rendered.appendLines(f, evs)
	} else {
		f = appendRawLines(f, evs)
	}
	f = append(f, "]}"...)
	s.frame = f
	if cap(s.frame) > 1<<20 {
		s.frame = nil // do not pin a huge buffer for the socket's life
	}
	s.next = evs[len(evs)-1].Line + 1
	return s.write(f)
}

// sendState sends a "state" frame when status or steps changed.
func (s *logSocket) sendState(st logState) bool {
	f, err := st.frame()
	if err != nil || bytes.Equal(f, s.lastState) {
		return true
	}
	s.lastState = f
	return s.write(f)
}

// endFrame is the socket's last data frame.
type endFrame struct {
	T         string `json:"t"`
	Status    string `json:"status"`
	Truncated bool   `json:"truncated"`
	// Last is the number of the log's last line.
	Last int `json:"last"`
}

// finish sends the end frame and closes the connection cleanly.
func (s *logSocket) finish(end logs.End, readDone <-chan struct{}) {
	f, _ := json.Marshal(endFrame{T: "end", Status: end.Status, Truncated: end.Truncated, Last: end.Lines})
	if s.write(f) {
		s.close(websocket.CloseNormalClosure, "end of log", readDone)
	}
}

// fail ends the socket after an error: 1001 when the server is shutting
// down (the client reconnects), 1011 otherwise.
func (s *logSocket) fail(err error, readDone <-chan struct{}) {
	switch {
	case errors.Is(err, logs.ErrClosed):
		s.close(websocket.CloseGoingAway, "server is shutting down", readDone)
	case errors.Is(err, context.Canceled), errors.Is(err, io.EOF):
		// The client went away, or the stream ended without an end event.
	default:
		s.log.Error("log socket", slog.Any("err", err))
		f, _ := json.Marshal(map[string]string{"t": "error", "message": "reading the log failed; reconnect to resume"})
		if s.write(f) {
			s.close(websocket.CloseInternalServerErr, "log read failed", readDone)
		}
	}
}

// close sends a close frame and waits briefly for the client's answer.
func (s *logSocket) close(code int, reason string, readDone <-chan struct{}) {
	msg := websocket.FormatCloseMessage(code, reason)
	if err := s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteWait)); err != nil {
		return
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-readDone:
	case <-t.C:
	}
}

// ownerGone reports whether the owner finished long enough ago that a
// stream still open has lost its writer.
func (s *logSocket) ownerGone(st logState) bool {
	return st.Final && (st.FinishedAt.IsZero() || time.Since(st.FinishedAt) >= s.cfg.EndGrace)
}

// drain ends a socket whose owner finished without closing the stream:
// it sends the rest of what is stored and an end frame with the owner's
// status, and reports true. It reports false, leaving the rest to the
// subscription, when the stream turns out to be closed (the subscription
// then ends by itself) or the store cannot be read.
func (s *logSocket) drain(ctx context.Context, rendered *renderedStream, st logState, readDone <-chan struct{}) bool {
	for {
		p, err := s.h.logs.Read(ctx, s.t.Stream, s.next, logs.MaxReadLines)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("log socket: drain", slog.Any("err", err))
			}
			return false
		}
		if p.Closed {
			return false
		}
		for len(p.Lines) > 0 {
			n := min(len(p.Lines), s.cfg.MaxLines)
			if !s.sendLines(p.Lines[:n], rendered) {
				return true
			}
			p.Lines = p.Lines[n:]
		}
		if p.Next > p.Total {
			s.finish(logs.End{Status: st.Status, Truncated: p.Truncated, Lines: p.Total}, readDone)
			return true
		}
	}
}
