package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// Event is one item of a Subscription: a line, or (with End set, as the
// last event) the end of the stream.
type Event struct {
	// Line is the 1-based line number; 0 on the end event.
	Line int
	Text string
	End  *End
}

// End describes a finished stream.
type End struct {
	Status    string
	Truncated bool
	// Lines is the number of the stream's last line.
	Lines int
}

// Subscription delivers a stream's lines from a starting line, each
// exactly once and in order, then an End event. Next is for one
// goroutine; Close may be called from any.
type Subscription struct {
	s      *Service
	t      *topic
	stream string

	next  int // number of the next line to deliver
	buf   []Event
	pos   int
	ended bool

	waiting bool          // guarded by t.mu: listed in t.waiters
	wake    chan struct{} // one slot: "look again"

	done      chan struct{}
	closeOnce sync.Once
	stopCtx   func() bool
}

// Subscribe follows stream from line from (1 for the start): stored lines
// are replayed, then new ones arrive live. The subscription also ends when
// ctx is done. A stream that does not exist yet is waited for.
func (s *Service) Subscribe(ctx context.Context, stream string, from int) (*Subscription, error) {
	t, err := s.acquire(stream)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{
		s: s, t: t, stream: stream,
		next: max(from, 1),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	// The callback must not touch stopCtx: with ctx already done it runs
	// before AfterFunc has returned (and stopCtx is assigned).
	sub.stopCtx = context.AfterFunc(ctx, sub.shut)
	return sub, nil
}

// Next returns the next event, waiting for it if need be. After the End
// event it returns io.EOF; after Close (of the subscription or the
// Service) ErrClosed; when ctx is done, ctx's error.
func (sub *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		select {
		case <-sub.done:
			return Event{}, ErrClosed
		default:
		}
		if sub.pos < len(sub.buf) {
			ev := sub.buf[sub.pos]
			sub.buf[sub.pos] = Event{}
			sub.pos++
			if ev.End != nil {
				sub.ended = true
			}
			return ev, nil
		}
		if sub.ended {
			return Event{}, io.EOF
		}
		if err := sub.alive(ctx); err != nil {
			return Event{}, err
		}
		sub.buf, sub.pos = sub.buf[:0], 0
		local, err := sub.fill(ctx)
		if err != nil {
			// A read cut short by Close or ctx reports that, not the read.
			if aerr := sub.alive(ctx); aerr != nil {
				return Event{}, aerr
			}
			return Event{}, err
		}
		if len(sub.buf) == 0 {
			if err := sub.wait(ctx, local); err != nil {
				return Event{}, err
			}
		}
	}
}

// Close ends the subscription; a Next blocked in another goroutine returns
// ErrClosed.
func (sub *Subscription) Close() {
	sub.shut()
	sub.stopCtx()
}

// shut ends the subscription once; it is also what ctx's end runs.
func (sub *Subscription) shut() {
	sub.closeOnce.Do(func() {
		close(sub.done)
		sub.t.mu.Lock()
		sub.t.removeWaiterLocked(sub)
		sub.t.mu.Unlock()
		sub.s.release(sub.t)
	})
}

func (sub *Subscription) alive(ctx context.Context) error {
	select {
	case <-sub.done:
		return ErrClosed
	case <-sub.s.ctx.Done():
		return ErrClosed
	default:
		return ctx.Err()
	}
}

// fill loads the next events into buf: from the window when the next line
// is in it, else from the store. When nothing is available it leaves buf
// empty, with the subscription registered to be woken. It reports whether
// the stream is produced in this process (so no polling is needed).
func (sub *Subscription) fill(ctx context.Context) (local bool, err error) {
	t := sub.t
	t.mu.Lock()
	if n := len(t.lines); n > 0 && sub.next >= t.first && sub.next < t.first+n {
		i := sub.next - t.first
		j := min(n, i+memBatch)
		for k := i; k < j; k++ {
			sub.buf = append(sub.buf, Event{Line: t.first + k, Text: t.lines[k]})
		}
		sub.next += j - i
		t.mu.Unlock()
		return true, nil
	}
	if t.end != nil && sub.next > t.end.Lines {
		end := *t.end
		sub.buf = append(sub.buf, Event{End: &end})
		t.mu.Unlock()
		return true, nil
	}
	local = t.writer != nil || t.end != nil
	ahead := local && sub.next >= t.first
	// Register before reading the store, so a line published or a flush
	// announced meanwhile still wakes us.
	t.addWaiterLocked(sub)
	t.mu.Unlock()
	if ahead {
		// Everything not yet flushed is in the window; past it there is
		// nothing to read yet.
		return true, nil
	}
	return local, sub.fillFromStore(ctx, local)
}

// fillFromStore reads the gap from the store (a subscriber behind the
// window, or a stream written by another process).
func (sub *Subscription) fillFromStore(ctx context.Context, local bool) error {
	chunks, err := sub.s.store.LogChunks(ctx, sub.stream, sub.next, readChunks)
	if err != nil {
		return fmt.Errorf("logs: read %s: %w", sub.stream, err)
	}
	for _, c := range chunks {
		lines, err := chunkLines(c)
		if err != nil {
			return err
		}
		for i, text := range lines {
			n := c.FirstLine + i
			if n < sub.next {
				continue
			}
			if n != sub.next {
				return nil // a hole cannot happen; stop rather than skip a line
			}
			sub.buf = append(sub.buf, Event{Line: n, Text: text})
			sub.next++
		}
	}
	if len(sub.buf) > 0 || local {
		return nil
	}
	ls, err := sub.s.store.LogStream(ctx, sub.stream)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("logs: read %s: %w", sub.stream, err)
	}
	// The summary is written with the chunks, so a closed stream whose
	// last line we have passed is finished.
	if ls.Closed && sub.next > ls.Lines {
		sub.buf = append(sub.buf, Event{End: &End{Status: ls.Status, Truncated: ls.Truncated, Lines: ls.Lines}})
	}
	return nil
}

// wait blocks until woken. A stream written in another process is polled
// while no PostgreSQL listener tells us about its flushes.
func (sub *Subscription) wait(ctx context.Context, local bool) error {
	var poll <-chan time.Time
	if !local && !sub.s.listening.Load() {
		timer := time.NewTimer(pollInterval)
		defer timer.Stop()
		poll = timer.C
	}
	select {
	case <-sub.wake:
		return nil
	case <-poll:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-sub.done:
		return ErrClosed
	case <-sub.s.ctx.Done():
		return ErrClosed
	}
}

// chunkLines splits a stored chunk back into its lines.
func chunkLines(c models.LogChunk) ([]string, error) {
	lines := strings.Split(string(c.Data), "\n")
	if len(lines) != c.LineCount {
		return nil, fmt.Errorf("logs: chunk %d of %s holds %d lines, want %d", c.Seq, c.Stream, len(lines), c.LineCount)
	}
	return lines, nil
}
