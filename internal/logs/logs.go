// Package logs owns build, deploy and load-test output: a durable store of
// numbered lines in chunks (through models), a Writer that numbers, caps
// and batches lines, and a hub that fans them out live — in process, and
// across processes through PostgreSQL LISTEN/NOTIFY (or polling on SQLite).
//
// A stream is a string key such as "build:42". Lines are numbered from 1.
// The fan-out never blocks a Writer and never drops a line: subscribers
// read from a shared in-memory window, and one that falls behind the
// window reads the gap from the store, then rejoins the window.
package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// Limits and timings of the store and the hub.
const (
	// MaxLineBytes is the longest line stored; longer lines are split.
	MaxLineBytes = 64 << 10
	// DefaultMaxBytes is the per-stream cap when Options.MaxBytes is 0.
	DefaultMaxBytes = 64 << 20
	// DefaultWindow is the replay window in lines when Options.Window is 0.
	DefaultWindow = 10000
	// Channel is the PostgreSQL NOTIFY channel Writers announce flushes on.
	Channel = "slipway_logs"

	chunkBytes    = 64 << 10              // a chunk is flushed when it reaches this size
	flushInterval = 50 * time.Millisecond // ... or when its first line is this old
	windowBytes   = 8 << 20               // the window never holds more flushed bytes than this
	pollInterval  = time.Second           // fallback for streams written by another process
	readChunks    = 16                    // chunks fetched per store read
	memBatch      = 512                   // lines copied from the window per lock
)

// ErrClosed is returned after a Service or Subscription is closed.
var ErrClosed = errors.New("logs: closed")

// ErrReplaced is returned by a Writer whose stream was taken over by a
// newer Writer (the old one is treated as crashed).
var ErrReplaced = errors.New("logs: writer replaced by a newer writer for the stream")

// Options tune a Service.
type Options struct {
	// MaxBytes caps each stream; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Logger receives background errors (failed flushes, lost listener);
	// nil discards them.
	Logger *slog.Logger
	// Window is how many recent lines stay in memory for live subscribers
	// after they are flushed; 0 means DefaultWindow.
	Window int
}

// Service owns log store access and the live hub. Create one per process
// with NewService, call Start, and Close it after its Writers.
type Service struct {
	store *models.Store
	opts  Options
	log   *slog.Logger

	// ctx ends at Close; background flushes and the listener run under it.
	ctx    context.Context
	cancel context.CancelFunc

	// listening is true while the PostgreSQL listener is connected; while
	// false, subscribers of streams written elsewhere poll the store.
	listening atomic.Bool

	mu      sync.Mutex
	topics  map[string]*topic
	closed  bool
	started bool
	wg      sync.WaitGroup
}

// NewService returns a Service over store. It starts nothing; see Start.
func NewService(store *models.Store, opts Options) *Service {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: store, opts: opts, log: log, ctx: ctx, cancel: cancel, topics: map[string]*topic{}}
}

// Start begins listening for other processes' flushes on PostgreSQL. The
// first connection is made before Start returns, so a bad configuration
// shows up here; later losses reconnect with backoff. On SQLite it does
// nothing: readers of streams written elsewhere poll instead.
func (s *Service) Start(ctx context.Context) error {
	if s.store.Dialect() != models.Postgres {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.started {
		s.mu.Unlock()
		return nil
	}
	s.started = true
	s.mu.Unlock()
	lctx, cancel := context.WithCancel(s.ctx)
	stop := context.AfterFunc(ctx, cancel)
	conn, err := s.listen(lctx)
	if err != nil {
		stop()
		cancel()
		s.mu.Lock()
		s.started = false
		s.mu.Unlock()
		return fmt.Errorf("logs: start listener: %w", err)
	}
	s.listening.Store(true)
	if !s.spawn(func() {
		defer cancel()
		defer stop()
		s.listenLoop(lctx, conn)
	}) {
		s.listening.Store(false)
		conn.Close(context.Background())
		cancel()
		stop()
		return ErrClosed
	}
	return nil
}

// Close stops the listener and every Writer's background flusher, ends
// blocked subscriptions with ErrClosed, and waits until no goroutine of
// the Service is left. Close Writers first: lines still pending in an
// open Writer are not flushed by Close.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// spawn runs fn in a goroutine tracked by Close, unless the Service is
// closed. The check and the Add share the lock so Close's Wait never
// races an Add.
func (s *Service) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// topic is the in-process state of one stream: its local Writer, if any,
// the window of recent lines, and the subscribers waiting for more.
type topic struct {
	stream string
	refs   int // guarded by Service.mu

	mu sync.Mutex
	// writer is this process's Writer for the stream, nil if none. While
	// it is set (and after it closed, with end set) the window holds
	// every line not yet flushed, so a reader ahead of the window need
	// not ask the store.
	writer *Writer
	// lines holds lines first .. first+len(lines)-1. Lines are evicted
	// from the front only once flushed, so with a local writer every line
	// is in the window or in the store.
	first   int
	lines   []string
	bytes   int
	flushed int
	// end is set when the local writer closed the stream.
	end     *End
	waiters []*Subscription
}

func (s *Service) acquire(stream string) (*topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	t := s.topics[stream]
	if t == nil {
		t = &topic{stream: stream, first: 1}
		s.topics[stream] = t
	}
	t.refs++
	return t, nil
}

func (s *Service) release(t *topic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.refs--
	if t.refs == 0 && s.topics[t.stream] == t {
		delete(s.topics, t.stream)
	}
}

func (s *Service) lookup(stream string) *topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics[stream]
}

// wakeAll makes every waiting subscriber look again (after the listener
// reconnects or drops, notifications may have been missed).
func (s *Service) wakeAll() {
	s.mu.Lock()
	ts := make([]*topic, 0, len(s.topics))
	for _, t := range s.topics {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	for _, t := range ts {
		t.mu.Lock()
		ws := t.takeWaitersLocked()
		t.mu.Unlock()
		wake(ws)
	}
}

// push adds a line to the window; the caller holds t.mu.
func (t *topic) pushLocked(text string, window int) {
	t.lines = append(t.lines, text)
	t.bytes += len(text)
	t.evictLocked(window)
}

// evictLocked drops flushed lines beyond the window from the front.
func (t *topic) evictLocked(window int) {
	k := 0
	for k < len(t.lines) && t.first+k <= t.flushed && (len(t.lines)-k > window || t.bytes > windowBytes) {
		t.bytes -= len(t.lines[k])
		k++
	}
	if k > 0 {
		clear(t.lines[:k]) // let the strings go before the array is reallocated
		t.lines = t.lines[k:]
		t.first += k
	}
}

func (t *topic) takeWaitersLocked() []*Subscription {
	ws := t.waiters
	t.waiters = nil
	for _, sub := range ws {
		sub.waiting = false
	}
	return ws
}

func (t *topic) addWaiterLocked(sub *Subscription) {
	if !sub.waiting {
		sub.waiting = true
		t.waiters = append(t.waiters, sub)
	}
}

func (t *topic) removeWaiterLocked(sub *Subscription) {
	if !sub.waiting {
		return
	}
	sub.waiting = false
	for i, w := range t.waiters {
		if w == sub {
			t.waiters = append(t.waiters[:i], t.waiters[i+1:]...)
			return
		}
	}
}

// wake signals subscribers without ever blocking: each has a one-slot
// channel, and a full slot already means "look again".
func wake(ws []*Subscription) {
	for _, sub := range ws {
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}
