package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/logs"
)

// Format is how a socket sends lines: rendered HTML or raw text.
type Format string

// The line formats.
const (
	FormatHTML Format = "html"
	FormatRaw  Format = "raw"
)

// State is what a stream's owner (a build, a release) says about itself.
type State struct {
	Status string
	// Final is true once the owner finished; FinishedAt is when (zero if
	// unknown). A finished owner whose stream was never closed (a crashed
	// writer) ends its sockets after Config.EndGrace.
	Final      bool
	FinishedAt time.Time
	// Steps is sent as the state frame's "steps" (JSON); nil sends [].
	Steps any
}

// stateFrame is the socket's "state" frame.
type stateFrame struct {
	T      string `json:"t"`
	Status string `json:"status"`
	Final  bool   `json:"final"`
	Steps  any    `json:"steps"`
}

func (s State) frame() ([]byte, error) {
	steps := s.Steps
	if steps == nil {
		steps = []struct{}{}
	}
	return json.Marshal(stateFrame{T: "state", Status: s.Status, Final: s.Final, Steps: steps})
}

// Request is one socket's stream and where it starts.
type Request struct {
	// Stream is the internal/logs stream key ("build:7").
	Stream string
	// From is the first line to send (1 or more).
	From   int
	Format Format
	// Initial is the owner's state as the caller just read it; State
	// reads it again every Config.StateEvery while the socket is open.
	Initial State
	State   func(ctx context.Context) (State, error)
}

// Serve runs the log socket on an upgraded connection until the stream
// ends or the client leaves, and closes the connection. It replays the
// stream from req.From, then sends new lines live, then an end frame and
// a close frame.
func (v *Viewer) Serve(ctx context.Context, ws *websocket.Conn, req Request, log *slog.Logger) {
	if req.From < 1 {
		req.From = 1
	}
	s := &socket{v: v, req: req, cfg: v.Config, next: req.From, log: log}
	s.run(ctx, ws)
}

// socket is one open log websocket. Two goroutines serve it: run (the
// writer: it alone writes data frames) and the Conn's reader (control
// frames, so pongs and the client's close are seen). Lines come from the
// stream's shared feed (feed.go) while the socket's next line is in the
// feed's window; otherwise from a subscription of the socket's own, with
// a third goroutine (pump) moving its events to the writer in batches.
// All end when the connection does; run waits for the others.
type socket struct {
	v        *Viewer
	req      Request
	cfg      Config
	log      *slog.Logger
	conn     *Conn
	rendered *renderedStream // nil for raw lines

	// next is the number of the next line to send.
	next int
	// lastState is the last state frame sent.
	lastState []byte
	frame     []byte
	// own is the socket's own subscription while the feed cannot serve
	// it; followed is set once the feed served it.
	own      *ownFollow
	followed bool
	// pending are lines from own waiting to be sent, at most FlushEvery
	// after lastFlush; flush fires then when armed.
	pending   []logs.Event
	flush     *time.Timer
	armed     bool
	lastFlush time.Time
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

// feedFramesPerLook bounds the frames a socket writes before it looks at
// its other duties (pings, state, the client leaving).
const feedFramesPerLook = 16

func (s *socket) run(parent context.Context, ws *websocket.Conn) {
	ctx, cancel := context.WithCancel(parent)
	s.conn = s.v.Accept(ws, cancel)
	defer func() {
		cancel()
		s.own.stop()
		s.conn.Release()
	}()
	if s.req.Format == FormatHTML {
		s.rendered = s.v.rendered.acquire(s.req.Stream)
		defer s.v.rendered.release(s.rendered)
	}
	if s.handshake(ctx) {
		return
	}
	feed := s.joinFeed(ctx)
	defer s.v.feeds.release(feed)
	s.followFeed(ctx, feed)
}

// handshake sends the owner's state; when the owner finished long ago it
// sends the rest of the log from the store and the end frame, and reports
// true: the socket is done.
func (s *socket) handshake(ctx context.Context) bool {
	st := s.req.Initial
	if !s.sendState(st) {
		return true
	}
	return s.ownerGone(st) && s.drain(ctx, st)
}

// joinFeed acquires the stream's shared feed. A feed this socket starts
// begins at the stream's stored end, not at this socket's line: the feed
// serves the live end, and one socket's ?from= (1 on a long log, or far
// past the end) must not send every later viewer onto a subscription of
// its own.
func (s *socket) joinFeed(ctx context.Context) *feed {
	start := s.next
	if p, err := s.v.svc.Tail(ctx, s.req.Stream, 1); err == nil {
		start = p.Total + 1
	}
	return s.v.feeds.acquire(s.v.svc, s.req.Stream, s.req.Format, start, s.cfg)
}

// followFeed sends lines until the end frame, the client leaving or a
// failure: from the feed's frames while its next line is in the feed's
// window, otherwise from its own subscription (a catch-up from the
// store), rejoining the feed once it can. Meanwhile it pings and re-reads
// the owner's state.
func (s *socket) followFeed(ctx context.Context, feed *feed) {
	ping := time.NewTicker(s.cfg.Ping)
	defer ping.Stop()
	stateTick := time.NewTicker(s.cfg.StateEvery)
	defer stateTick.Stop()
	s.flush = time.NewTimer(time.Hour)
	s.flush.Stop()
	defer s.flush.Stop()

	// ready is always ready: after writing feed frames the select below
	// only looks at its other duties (pings, state, the client leaving)
	// without waiting, so a reader that always has frames waiting still
	// gets its pings.
	ready := make(chan struct{})
	close(ready)
	for {
		var batches <-chan batch
		var changed, more <-chan struct{}
		if s.own == nil {
			wrote, ch, done := s.fromFeed(ctx, feed)
			if done {
				return
			}
			if wrote {
				more = ready
			}
			changed = ch
		}
		if s.own != nil {
			batches = s.own.batches
			changed = feed.changedChan()
		}
		select {
		case <-more:
		case b, ok := <-batches:
			if !ok || !s.takeBatch(b) {
				return // !ok: pump ended, the connection is going away
			}
		case <-changed:
			s.rejoin(feed)
		case <-s.flush.C:
			s.armed = false
			if !s.sendPending() {
				return
			}
		case <-ping.C:
			if !s.conn.Ping() {
				return
			}
		case <-stateTick.C:
			if !s.refreshState(ctx) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// fromFeed takes what the feed offers the socket now: it writes frames
// (wrote), or sends the end (done), or starts the socket's own
// subscription when the feed cannot serve it, or returns the channel to
// wait on for the feed's next change. done reports the socket is over.
func (s *socket) fromFeed(ctx context.Context, feed *feed) (wrote bool, changed <-chan struct{}, done bool) {
	v := feed.view(s.next, feedFramesPerLook)
	if !v.off {
		s.followed = true
	}
	switch {
	case len(v.frames) > 0:
		if !s.sendFrames(v.frames) || ctx.Err() != nil {
			return false, nil, true
		}
		return true, nil, false
	case v.end != nil:
		s.finish(*v.end)
		return false, nil, true
	case v.off:
		if s.followed {
			s.v.feeds.left.Add(1)
		}
		own, err := s.subscribeOwn(ctx)
		if err != nil {
			s.fail(err)
			return false, nil, true
		}
		s.own = own
		return false, nil, false
	default:
		return false, v.changed, false
	}
}

// rejoin moves a socket on its own subscription back onto the feed once
// it has sent what it holds and its next line is in the feed's window.
func (s *socket) rejoin(feed *feed) {
	if s.own != nil && len(s.pending) == 0 && feed.covers(s.next) {
		s.own.stop()
		s.own = nil
		s.v.feeds.joined.Add(1)
	}
}

// subscribeOwn subscribes the socket on its own from its next line.
func (s *socket) subscribeOwn(ctx context.Context) (*ownFollow, error) {
	octx, cancel := context.WithCancel(ctx)
	sub, err := s.v.svc.Subscribe(octx, s.req.Stream, s.next)
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

// takeBatch takes a batch from the socket's own subscription; it reports
// false when the socket is over (the end, an error, a failed write).
func (s *socket) takeBatch(b batch) bool {
	if b.err != nil {
		if s.sendPending() {
			s.fail(b.err)
		}
		return false
	}
	var end *logs.End
	want := s.next + len(s.pending)
	for _, ev := range b.events {
		if ev.End != nil {
			end = ev.End
			break
		}
		if ev.Line < want {
			continue // already sent from the store by drain
		}
		s.pending = append(s.pending, ev)
		want = ev.Line + 1
	}
	switch {
	case end != nil:
		if s.sendPending() {
			s.finish(*end)
		}
		return false
	case len(s.pending) >= s.cfg.MaxLines || time.Since(s.lastFlush) >= s.cfg.FlushEvery:
		// A line after a quiet spell goes out at once; under load lines
		// wait at most FlushEvery to share a frame.
		if s.armed {
			s.flush.Stop()
			s.armed = false
		}
		return s.sendPending()
	case !s.armed:
		s.flush.Reset(s.cfg.FlushEvery - time.Since(s.lastFlush))
		s.armed = true
	}
	return true
}

// sendPending sends the pending lines in frames of at most MaxLines.
func (s *socket) sendPending() bool {
	for len(s.pending) > 0 {
		n := min(len(s.pending), s.cfg.MaxLines)
		if !s.sendLines(s.pending[:n]) {
			return false
		}
		clear(s.pending[:n])
		s.pending = s.pending[n:]
	}
	s.pending = s.pending[:0]
	s.lastFlush = time.Now()
	return true
}

// refreshState re-reads the owner's state and sends it when it changed;
// an owner that finished without closing the stream gets the rest of the
// log and the end. It reports false when the socket is over.
func (s *socket) refreshState(ctx context.Context) bool {
	st, err := s.req.State(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("log socket: read state", slog.Any("err", err))
		}
		return true
	}
	if !s.sendState(st) {
		return false
	}
	if s.ownerGone(st) {
		if !s.sendPending() {
			return false
		}
		if s.drain(ctx, st) {
			return false
		}
	}
	return true
}

// sendFrames writes the feed's frames, the first from the socket's next
// line on. A frame that starts there is written as prepared, shared by
// every socket; only a socket joining in the middle of a frame builds its
// own copy of the frame's tail.
func (s *socket) sendFrames(frs []*feedFrame) bool {
	for _, fr := range frs {
		var ok bool
		switch {
		case s.next != fr.from:
			s.v.feeds.tails.Add(1)
			s.frame = fr.appendTail(s.frame[:0], s.next)
			ok = s.conn.Write(s.frame)
		case fr.msg != nil:
			ok = s.conn.writePrepared(fr.msg)
		default:
			ok = s.conn.Write(fr.data)
		}
		if !ok {
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

// sendLines sends one "lines" frame. The events are consecutive and start
// at s.next.
func (s *socket) sendLines(evs []logs.Event) bool {
	f := append(s.frame[:0], `{"t":"lines","from":`...)
	f = strconv.AppendInt(f, int64(evs[0].Line), 10)
	f = append(f, `,"lines":[`...)
	if s.rendered != nil {
		f = s.rendered.appendLines(f, evs)
	} else {
		f = appendRawLines(f, evs)
	}
	f = append(f, "]}"...)
	s.frame = f
	if cap(s.frame) > 1<<20 {
		s.frame = nil // do not pin a huge buffer for the socket's life
	}
	s.next = evs[len(evs)-1].Line + 1
	return s.conn.Write(f)
}

// sendState sends a "state" frame when status or steps changed.
func (s *socket) sendState(st State) bool {
	f, err := st.frame()
	if err != nil || bytes.Equal(f, s.lastState) {
		return true
	}
	s.lastState = f
	return s.conn.Write(f)
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
func (s *socket) finish(end logs.End) {
	if s.conn.WriteJSON(endFrame{T: "end", Status: end.Status, Truncated: end.Truncated, Last: end.Lines}) {
		s.conn.Close(websocket.CloseNormalClosure, "end of log")
	}
}

// fail ends the socket after an error: 1001 when the server is shutting
// down (the client reconnects), 1011 otherwise.
func (s *socket) fail(err error) {
	switch {
	case errors.Is(err, logs.ErrClosed):
		s.conn.Close(websocket.CloseGoingAway, "server is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, io.EOF):
		// The client went away, or the stream ended without an end event.
	default:
		s.log.Error("log socket", slog.Any("err", err))
		if s.conn.WriteJSON(map[string]string{"t": "error", "message": "reading the log failed; reconnect to resume"}) {
			s.conn.Close(websocket.CloseInternalServerErr, "log read failed")
		}
	}
}

// ownerGone reports whether the owner finished long enough ago that a
// stream still open has lost its writer.
func (s *socket) ownerGone(st State) bool {
	return st.Final && (st.FinishedAt.IsZero() || time.Since(st.FinishedAt) >= s.cfg.EndGrace)
}

// drain is the catch-up from the store of a socket whose owner finished
// without closing the stream: it sends the rest of what is stored and an
// end frame with the owner's status, and reports true. It reports false,
// leaving the rest to the subscription, when the stream turns out to be
// closed (the subscription then ends by itself) or the store cannot be
// read.
func (s *socket) drain(ctx context.Context, st State) bool {
	for {
		p, err := s.v.svc.Read(ctx, s.req.Stream, s.next, logs.MaxReadLines)
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
			if !s.sendLines(p.Lines[:n]) {
				return true
			}
			p.Lines = p.Lines[n:]
		}
		if p.Next > p.Total {
			s.finish(logs.End{Status: st.Status, Truncated: p.Truncated, Lines: p.Total})
			return true
		}
	}
}
