package live

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/termhtml"
)

// A feed shares the live end of a stream among the log sockets of this
// process. One subscription per stream and line format reads the stream,
// renders each line once, and packs the lines into websocket frames that
// are framed once (websocket.PreparedMessage); every socket at the live
// end writes those same frames. Without it each of N viewers copied,
// rendered, batched and framed every line itself: at 100 viewers × 10,000
// lines/s that is a million lines a second of per-viewer work, more CPU
// than a loaded two-core machine gives, and the latency grew without
// bound.
//
// A feed keeps a window of recent frames. A socket whose next line is
// outside it — one resuming from an older line, a slow client the window
// has left behind, or one that is ahead of a feed still catching up —
// follows the stream on a subscription of its own until its next line is
// in the window again, and the feed never waits for any socket.

// Default bounds of a feed's window.
const (
	feedWindowLines = 8192
	feedWindowBytes = 4 << 20
)

// feedHub owns the feeds of a process, one per stream and line format
// while sockets use it.
type feedHub struct {
	// maxLines and maxBytes bound each feed's window (tests shrink them).
	maxLines, maxBytes int
	// joined counts sockets that moved from a subscription of their own
	// to a feed, left those that fell out of a feed's window, and tails
	// the frames sent from the middle of a feed's frame.
	joined, left, tails atomic.Int64

	mu    sync.Mutex
	feeds map[feedKey]*feed
}

type feedKey struct {
	stream string
	format Format
}

func newFeedHub() *feedHub {
	return &feedHub{maxLines: feedWindowLines, maxBytes: feedWindowBytes, feeds: map[feedKey]*feed{}}
}

// feed is one stream's shared frames. Frames hold lines first..next-1,
// consecutive and in order.
type feed struct {
	hub    *feedHub
	key    feedKey
	refs   int // guarded by hub.mu
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	frames []*feedFrame
	first  int
	next   int
	bytes  int
	// end is set after the stream's last frame; err when the feed's
	// subscription failed (its sockets then follow on their own).
	end *logs.End
	err error
	// changed is closed, and replaced, whenever the above change.
	changed chan struct{}
}

// feedFrame is one "lines" frame: its JSON text, where each line starts
// in it (so a socket can send the frame's tail), and its wire form.
type feedFrame struct {
	from, count int
	data        []byte
	offs        []int
	msg         *websocket.PreparedMessage
}

// acquire returns the feed of stream in format, starting one at line from
// if there is none. Every acquire needs a release.
func (fh *feedHub) acquire(svc *logs.Service, stream string, format Format, from int, cfg Config) *feed {
	key := feedKey{stream, format}
	fh.mu.Lock()
	defer fh.mu.Unlock()
	if f := fh.feeds[key]; f != nil {
		f.refs++
		return f
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{
		hub: fh, key: key, refs: 1, cancel: cancel, done: make(chan struct{}),
		first: from, next: from, changed: make(chan struct{}),
	}
	fh.feeds[key] = f
	go f.run(ctx, svc, cfg)
	return f
}

// release drops a reference; the last one stops the feed and waits for
// its goroutines.
func (fh *feedHub) release(f *feed) {
	fh.mu.Lock()
	f.refs--
	last := f.refs == 0
	if last && fh.feeds[f.key] == f {
		delete(fh.feeds, f.key)
	}
	fh.mu.Unlock()
	if last {
		f.cancel()
		<-f.done
	}
}

// forget unlists a feed that stopped by itself (the stream ended or its
// subscription failed), so later sockets start a fresh one.
func (fh *feedHub) forget(f *feed) {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	if fh.feeds[f.key] == f {
		delete(fh.feeds, f.key)
	}
}

// run reads the stream and publishes frames, with the batching a socket
// had on its own: a line after a quiet spell goes out at once; under load
// lines wait at most FlushEvery to share a frame of at most MaxLines.
func (f *feed) run(ctx context.Context, svc *logs.Service, cfg Config) {
	defer close(f.done)
	defer f.hub.forget(f)
	sub, err := svc.Subscribe(ctx, f.key.stream, f.first)
	if err != nil {
		f.stop(nil, err)
		return
	}
	var wg sync.WaitGroup
	defer func() {
		sub.Close()
		wg.Wait()
	}()
	batches := make(chan batch, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		pump(ctx, sub, batches, cfg.MaxLines)
	}()

	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	armed := false
	var pending []logs.Event
	var lastFlush time.Time
	publish := func() {
		for i := 0; i < len(pending); i += cfg.MaxLines {
			f.publish(pending[i:min(len(pending), i+cfg.MaxLines)])
		}
		clear(pending)
		pending = pending[:0]
		lastFlush = time.Now()
	}
	for {
		select {
		case b, ok := <-batches:
			if !ok {
				return // ctx is done: the last socket left
			}
			var end *logs.End
			for _, ev := range b.events {
				if ev.End != nil {
					end = ev.End
					break
				}
				pending = append(pending, ev)
			}
			switch {
			case b.err != nil || end != nil:
				publish()
				f.stop(end, b.err)
				return
			case len(pending) >= cfg.MaxLines || time.Since(lastFlush) >= cfg.FlushEvery:
				if armed {
					flush.Stop()
					armed = false
				}
				publish()
			case !armed:
				flush.Reset(cfg.FlushEvery - time.Since(lastFlush))
				armed = true
			}
		case <-flush.C:
			armed = false
			publish()
		case <-ctx.Done():
			return
		}
	}
}

// publish renders consecutive events into one frame and adds it to the
// window, dropping the oldest frames beyond the window's bounds.
func (f *feed) publish(evs []logs.Event) {
	if len(evs) == 0 {
		return
	}
	fr := &feedFrame{from: evs[0].Line, count: len(evs), offs: make([]int, len(evs))}
	d := make([]byte, 0, 64+len(evs)*128)
	d = append(d, `{"t":"lines","from":`...)
	d = strconv.AppendInt(d, int64(fr.from), 10)
	d = append(d, `,"lines":[`...)
	for i, ev := range evs {
		if i > 0 {
			d = append(d, ',')
		}
		fr.offs[i] = len(d)
		if f.key.format == FormatHTML {
			d = appendJSONString(d, termhtml.Line(ev.Text))
		} else {
			d = appendJSONString(d, ev.Text)
		}
	}
	d = append(d, "]}"...)
	fr.data = d
	// Only compression can make this fail, and log sockets do not compress;
	// a frame without msg is written as a plain message anyway.
	fr.msg, _ = websocket.NewPreparedMessage(websocket.TextMessage, d)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, fr)
	f.next = fr.from + fr.count
	f.bytes += len(d)
	k := 0
	for k < len(f.frames)-1 && (f.next-f.frames[k].from > f.hub.maxLines || f.bytes > f.hub.maxBytes) {
		f.bytes -= len(f.frames[k].data)
		k++
	}
	if k > 0 {
		clear(f.frames[:k])
		f.frames = f.frames[k:]
		f.first = f.frames[0].from
	}
	f.signalLocked()
}

// stop records how the feed ended: the stream's end, or an error.
func (f *feed) stop(end *logs.End, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.end, f.err = end, err
	if end == nil && err == nil {
		f.err = logs.ErrClosed
	}
	f.signalLocked()
}

func (f *feed) signalLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// feedView is what a socket at some line can take from a feed now.
type feedView struct {
	// frames start with the frame holding the socket's next line (the
	// socket sends that one from its next line on).
	frames []*feedFrame
	// end is the stream's end, when the socket has every line.
	end *logs.End
	// off: the feed cannot serve the socket (its next line is no longer,
	// or not yet, in the window, or the feed failed); the socket follows
	// on its own subscription.
	off bool
	// changed is closed when the feed next changes.
	changed <-chan struct{}
}

// view returns what a socket whose next line is next can take, at most
// maxFrames frames.
func (f *feed) view(next, maxFrames int) feedView {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := feedView{changed: f.changed}
	switch {
	case next < f.first || next > f.next:
		v.off = true
	case next < f.next:
		i := sort.Search(len(f.frames), func(i int) bool { return f.frames[i].from+f.frames[i].count > next })
		v.frames = append(v.frames, f.frames[i:min(len(f.frames), i+maxFrames)]...)
	case f.end != nil:
		v.end = f.end
	case f.err != nil:
		v.off = true
	}
	return v
}

// covers reports whether a socket whose next line is next can follow the
// feed: next is in the window, or is the line the feed reads next.
func (f *feed) covers(next int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return next >= f.first && next <= f.next && (next < f.next || f.err == nil)
}

// changedChan returns the channel closed at the feed's next change.
func (f *feed) changedChan() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// appendTail appends a "lines" frame holding the frame's lines from
// line n on (n is one of them).
func (fr *feedFrame) appendTail(dst []byte, n int) []byte {
	dst = append(dst, `{"t":"lines","from":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `,"lines":[`...)
	return append(dst, fr.data[fr.offs[n-fr.from]:]...)
}
