package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// TestFeedWindowServesEveryOffsetOnce drives a feed by hand: frames of
// uneven sizes go into a window of 10 lines while readers at different
// offsets and speeds take what the window offers. A reader the window
// left behind (or that is ahead of it) is told so and reads the gap
// elsewhere, as a socket does on its own subscription. Every reader must
// get every line exactly once, in order, and then the end.
func TestFeedWindowServesEveryOffsetOnce(t *testing.T) {
	const total = 200
	fh := &feedHub{maxLines: 10, maxBytes: 1 << 20, feeds: map[feedKey]*feed{}}
	f := &feed{hub: fh, key: feedKey{"build:1", FormatRaw}, first: 1, next: 1, changed: make(chan struct{})}
	text := func(n int) string { return fmt.Sprintf("line %d \"<b>\"", n) }

	type reader struct {
		name      string
		start     int
		next      int
		every     int // looks at the feed after every every-th frame
		got       []string
		off, tail int
		ended     bool
	}
	readers := []*reader{
		{name: "a reader at the live end", next: 1, every: 1},
		{name: "a reader that looks every third frame", next: 1, every: 3},
		{name: "a reader that looks every ninth frame", next: 1, every: 9},
		{name: "a reader starting inside a frame", next: 2, every: 1},
		{name: "a reader ahead of the feed", next: 40, every: 2},
	}
	for _, r := range readers {
		r.start = r.next
	}
	look := func(r *reader) {
		for !r.ended {
			v := f.view(r.next, 2)
			switch {
			case v.off:
				// Fall back like a socket's own subscription: take the
				// lines the feed has passed from the store (here: text).
				r.off++
				if r.next >= f.next {
					return // ahead: nothing to read anywhere yet
				}
				for ; r.next < f.first; r.next++ {
					r.got = append(r.got, text(r.next))
				}
			case v.end != nil:
				r.ended = true
			case len(v.frames) == 0:
				return
			}
			for _, fr := range v.frames {
				data := fr.data
				if r.next != fr.from {
					r.tail++
					data = fr.appendTail(nil, r.next)
				}
				var fm frame
				if err := json.Unmarshal(data, &fm); err != nil {
					t.Fatalf("%s: frame %q: %v", r.name, data, err)
				}
				if fm.T != "lines" || fm.From != r.next || len(fm.Lines) != fr.count-(r.next-fr.from) {
					t.Fatalf("%s at %d got a frame from %d with %d lines", r.name, r.next, fm.From, len(fm.Lines))
				}
				r.got = append(r.got, fm.Lines...)
				r.next += len(fm.Lines)
			}
		}
	}

	sizes := []int{3, 1, 4, 1, 5, 9, 2, 6}
	for n, i := 1, 0; n <= total; i++ {
		k := min(sizes[i%len(sizes)], total-n+1)
		evs := make([]logs.Event, k)
		for j := range evs {
			evs[j] = logs.Event{Line: n + j, Text: text(n + j)}
		}
		f.publish(evs)
		n += k
		if f.next-f.first > 10+9 {
			t.Fatalf("the window holds lines %d–%d, more than its bound allows", f.first, f.next-1)
		}
		for _, r := range readers {
			if i%r.every == 0 {
				look(r)
			}
		}
	}
	f.stop(&logs.End{Status: "succeeded", Lines: total}, nil)
	for _, r := range readers {
		look(r)
	}

	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			if !r.ended {
				t.Fatal("never saw the end")
			}
			if want := total - r.start + 1; len(r.got) != want {
				t.Fatalf("got %d lines, want %d", len(r.got), want)
			}
			for i, l := range r.got {
				if n := r.start + i; l != text(n) {
					t.Fatalf("line %d is %q, want %q", n, l, text(n))
				}
			}
		})
	}
	if readers[2].off == 0 {
		t.Error("the slowest reader was never left behind: the window did not evict and the test proves nothing")
	}
	if readers[3].tail == 0 {
		t.Error("the reader starting inside a frame never got a frame's tail")
	}
	if readers[4].off == 0 {
		t.Error("the reader ahead of the feed was never told to read on its own")
	}
}

// TestLogSocketsShareAFeed runs real sockets over a feed whose window is
// tiny, so that sockets keep leaving it and joining it: one reads live,
// one reads nothing for a while (the window leaves it behind), one
// connects late from line 1 (it catches up on its own, then joins), one
// connects in the middle of a frame. Each must receive every line exactly
// once, in order, then the end frame.
func TestLogSocketsShareAFeed(t *testing.T) {
	ls := newServer(t, models.Config{})
	ls.v.Config.WriteWait = 5 * time.Minute
	fh := ls.v.feeds
	fh.maxLines, fh.maxBytes = 64, 64<<10
	const stream = "build:1"
	ctx := context.Background()
	w, err := ls.svc.NewWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 800)
	text := func(n int) string { return fmt.Sprintf("line %d %s", n, pad) }
	written := 0
	write := func(n int) {
		for range n {
			written++
			w.Line(text(written))
		}
	}

	type viewer struct {
		name string
		from int
		conn *websocket.Conn
		mu   sync.Mutex
		next int
		err  error
		done chan struct{}
	}
	read := func(v *viewer) {
		defer close(v.done)
		v.next = v.from
		ended := false
		for {
			v.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
			_, data, err := v.conn.ReadMessage()
			if err != nil {
				if !ended || !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					v.err = fmt.Errorf("at line %d: %v (end seen: %v)", v.next, err, ended)
				}
				return
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				v.err = fmt.Errorf("frame %q: %v", data, err)
				return
			}
			switch f.T {
			case "lines":
				if ended || f.From != v.next {
					v.err = fmt.Errorf("a lines frame from %d when %d was next (end seen: %v): a gap or a repeat", f.From, v.next, ended)
					return
				}
				for i, l := range f.Lines {
					if l != text(f.From+i) {
						v.err = fmt.Errorf("line %d is %.20q…", f.From+i, l)
						return
					}
				}
				v.mu.Lock()
				v.next += len(f.Lines)
				v.mu.Unlock()
			case "end":
				if ended || f.Last != written || v.next != written+1 {
					v.err = fmt.Errorf("end frame %+v after line %d of %d", f, v.next-1, written)
					return
				}
				ended = true
			}
		}
	}
	dial := func(name string, from int, readBuffer int) *viewer {
		dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil && readBuffer > 0 {
				err = conn.(*net.TCPConn).SetReadBuffer(readBuffer)
			}
			return conn, err
		}}
		conn, _, err := dialer.Dial(ls.wsURL(stream, fmt.Sprintf("&from=%d", from)), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return &viewer{name: name, from: from, conn: conn, done: make(chan struct{})}
	}
	live := dial("a live viewer", 1, 0)
	go read(live)
	slow := dial("a viewer that reads nothing for a while", 1, 32<<10)

	// ~16 MB: far more than kernel buffers hold, so the slow viewer's
	// socket is stuck while the feed's window moves on.
	for range 200 {
		write(100)
		time.Sleep(time.Millisecond)
	}
	write(40) // one burst, so the last frames hold several lines
	testkit.Eventually(t, 2*time.Minute, func() bool {
		for _, f := range fh.snapshot() {
			f.mu.Lock()
			next := f.next
			f.mu.Unlock()
			if next == written+1 {
				return true
			}
		}
		return false
	}, "the feed to publish every line")
	// A frame of several lines still in the window, to join inside of.
	var last *feedFrame
	for _, f := range fh.snapshot() {
		f.mu.Lock()
		for _, fr := range f.frames {
			if fr.count > 1 {
				last = fr
			}
		}
		f.mu.Unlock()
	}
	if last == nil {
		t.Fatal("the feed's window holds no frame of several lines; the test needs one")
	}
	tails := fh.tails.Load()
	mid := dial("a viewer starting inside a frame", last.from+1, 0)
	go read(mid)
	testkit.Eventually(t, 2*time.Minute, func() bool { return fh.tails.Load() > tails }, "the viewer inside a frame to get the frame's tail")

	late := dial("a viewer connecting late from line 1", 1, 0)
	go read(late)
	go read(slow)
	// Keep the build printing until the slow viewer has fallen out of the
	// window and both it and the late one have joined the feed again.
	joined := fh.joined.Load()
	for fh.left.Load() == 0 || fh.joined.Load() < joined+2 {
		write(20)
		time.Sleep(5 * time.Millisecond)
		if written > 2_000_000 {
			t.Fatalf("sockets left the feed %d times and joined it %d times after 2,000,000 lines; want at least 1 and 2",
				fh.left.Load(), fh.joined.Load()-joined)
		}
	}
	write(100)
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*viewer{live, slow, mid, late} {
		<-v.done
		if v.err != nil {
			t.Errorf("%s: %v", v.name, v.err)
		}
	}
}

// snapshot returns the feeds running now.
func (fh *feedHub) snapshot() []*feed {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	fs := make([]*feed, 0, len(fh.feeds))
	for _, f := range fh.feeds {
		fs = append(fs, f)
	}
	return fs
}
