package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/models"
)

// Writer batches the lines of one stream and flushes them as a chunk every
// ≤50 ms (counted from the oldest waiting line) or 64 KiB, whichever comes first. Line never waits for the
// database or for readers: flushing happens in the background.
//
// A Writer is safe for concurrent use. Only one Writer per stream should
// exist; NewWriter for a stream that already has one in this process
// replaces it, as if the old one had crashed.
type Writer struct {
	s      *Service
	t      *topic
	stream string
	max    int64

	// Guarded by t.mu, so numbering, the window and the pending chunk
	// change together.
	next         int    // number of the next line
	pending      []byte // lines not yet sealed, joined with "\n"
	pendFirst    int
	pendCount    int
	pendSince    time.Time // when the oldest line not yet taken by a flush arrived
	sealed       []chunk   // full chunks waiting for the flusher
	bytes        int64     // bytes accepted, counted against max
	truncated    bool
	noticeLine   int // number of the truncation notice, 0 if none
	droppedLines int64
	droppedBytes int64
	closing      bool
	detached     bool
	released     bool
	ended        bool

	// flushMu serializes flushes so chunks are stored in order.
	flushMu     sync.Mutex
	unsent      []chunk // taken from sealed, not yet committed
	seq         int
	storedLines int
	storedBytes int64
	done        bool // the final flush committed

	kick     chan struct{} // one slot: "there is something to flush"
	stop     chan struct{}
	stopOnce sync.Once
	loopDone chan struct{}
}

type chunk struct {
	first, count int
	data         []byte
}

// notice is the NOTIFY payload announcing a flush to other processes.
type notice struct {
	Stream string `json:"s"`
	Line   int    `json:"l"`
	Closed bool   `json:"c,omitempty"`
}

// NewWriter opens stream for writing. A stream that already has chunks
// (reopened after a crash) continues after its last stored line; lines
// that were never flushed are lost, as with any crash.
func (s *Service) NewWriter(ctx context.Context, stream string) (*Writer, error) {
	if stream == "" {
		return nil, errors.New("logs: new writer: empty stream name")
	}
	t, err := s.acquire(stream)
	if err != nil {
		return nil, err
	}
	w, err := s.newWriter(ctx, t)
	if err != nil {
		s.release(t)
		return nil, fmt.Errorf("logs: new writer for %s: %w", stream, err)
	}
	return w, nil
}

func (s *Service) newWriter(ctx context.Context, t *topic) (*Writer, error) {
	// Take over a Writer of this process that was dropped without Close.
	t.mu.Lock()
	old := t.writer
	if old != nil {
		old.detachLocked()
	}
	t.mu.Unlock()
	if old != nil {
		old.stopLoop()
		// A flush in flight must land before we read where to resume.
		old.flushMu.Lock()
		old.flushMu.Unlock()
		s.release(t)
	}

	w := &Writer{
		s: s, t: t, stream: t.stream, max: s.opts.MaxBytes,
		next:     1,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	last, err := s.store.LastLogChunk(ctx, t.stream)
	switch {
	case err == nil:
		w.next, w.seq = last.LastLine()+1, last.Seq
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	}
	w.storedLines = w.next - 1
	ls, err := s.store.LogStream(ctx, t.stream)
	switch {
	case err == nil:
		w.storedBytes, w.bytes = ls.Bytes, ls.Bytes
		if ls.Truncated {
			w.truncated, w.noticeLine = true, max(w.storedLines, 1)
		}
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	}
	// The summary row says the stream is open (again) from now on.
	err = s.store.UpsertLogStream(ctx, &models.LogStream{
		Stream: t.stream, Lines: w.storedLines, Bytes: w.storedBytes, Truncated: w.truncated,
	})
	if err != nil {
		return nil, err
	}

	t.mu.Lock()
	if t.writer != nil {
		// Another NewWriter for the same stream won the race; the caller
		// is misusing the API, and two writers would corrupt the stream.
		t.mu.Unlock()
		return nil, errors.New("another writer opened the stream concurrently")
	}
	t.writer, t.end = w, nil
	t.first, t.lines, t.bytes, t.flushed = w.next, nil, 0, w.next-1
	t.mu.Unlock()

	if !s.spawn(w.loop) {
		t.mu.Lock()
		w.detachLocked()
		t.mu.Unlock()
		return nil, ErrClosed
	}
	return w, nil
}

// Stream returns the stream's key.
func (w *Writer) Stream() string { return w.stream }

// Line appends text as the next line and returns its 1-based number. It
// publishes the line to live subscribers at once and never blocks on them
// or on the database. Text containing "\n" becomes several lines (a single
// trailing newline is dropped) and a line longer than MaxLineBytes is
// split; the number returned is then the first one. After the cap, after
// Close, or after the Writer was replaced, the line is dropped and Line
// returns 0.
func (w *Writer) Line(text string) int {
	t := w.t
	t.mu.Lock()
	if w.closing || w.detached {
		t.mu.Unlock()
		return 0
	}
	wasEmpty := w.pendCount == 0 && len(w.sealed) == 0
	if wasEmpty {
		w.pendSince = time.Now()
	}
	sealedBefore := len(w.sealed)
	first := 0
	eachLine(text, func(line string) {
		if n := w.addLocked(line); first == 0 {
			first = n
		}
	})
	kick := wasEmpty || len(w.sealed) > sealedBefore
	ws := t.takeWaitersLocked()
	t.mu.Unlock()
	wake(ws)
	if kick {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return first
}

// addLocked applies the cap to one line and appends it.
func (w *Writer) addLocked(line string) int {
	size := int64(len(line)) + 1
	if w.truncated {
		w.droppedLines++
		w.droppedBytes += size
		return 0
	}
	if w.bytes+size > w.max {
		w.truncated = true
		w.droppedLines++
		w.droppedBytes += size
		w.noticeLine = w.appendLocked(fmt.Sprintf("[slipway] log truncated: the %s limit was reached; further lines are dropped", sizeString(w.max)))
		return 0
	}
	w.bytes += size
	return w.appendLocked(line)
}

// appendLocked numbers a line, adds it to the pending chunk (sealing the
// chunk first if the line would overflow it) and to the window.
func (w *Writer) appendLocked(line string) int {
	if w.pendCount > 0 && len(w.pending)+1+len(line) > chunkBytes {
		w.sealLocked()
	}
	n := w.next
	w.next++
	if w.pendCount == 0 {
		w.pendFirst = n
	} else {
		w.pending = append(w.pending, '\n')
	}
	w.pending = append(w.pending, line...)
	w.pendCount++
	w.t.pushLocked(line, w.s.opts.Window)
	return n
}

func (w *Writer) sealLocked() {
	if w.pendCount == 0 {
		return
	}
	w.sealed = append(w.sealed, chunk{first: w.pendFirst, count: w.pendCount, data: w.pending})
	w.pending, w.pendCount = nil, 0
}

// Truncated reports whether the stream reached its cap.
func (w *Writer) Truncated() bool {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	return w.truncated
}

// LastLine returns the number of the last line accepted (0 if none).
func (w *Writer) LastLine() int {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	return w.next - 1
}

// Flush stores every line accepted so far, and tells other processes.
func (w *Writer) Flush(ctx context.Context) error {
	return w.flush(ctx, false, "")
}

// Close stores the remaining lines (with a summary of dropped ones if the
// cap was reached), marks the stream closed with status, and ends every
// subscription with an End event. A failed Close may be retried; a second
// successful Close does nothing.
func (w *Writer) Close(ctx context.Context, status string) error {
	t := w.t
	t.mu.Lock()
	if w.detached {
		t.mu.Unlock()
		return ErrReplaced
	}
	var ws []*Subscription
	if !w.closing {
		w.closing = true
		if w.droppedLines > 0 {
			w.appendLocked(fmt.Sprintf("[slipway] log truncated: the %s limit was reached; %d further bytes (%d lines) dropped",
				sizeString(w.max), w.droppedBytes, w.droppedLines))
			ws = t.takeWaitersLocked()
		}
	}
	t.mu.Unlock()
	wake(ws)

	w.stopLoop()
	<-w.loopDone
	if err := w.flush(ctx, true, status); err != nil {
		return err
	}

	t.mu.Lock()
	if w.ended || w.detached {
		t.mu.Unlock()
		return nil
	}
	w.ended = true
	t.end = &End{Status: status, Truncated: w.noticeLine > 0, Lines: w.next - 1}
	t.writer = nil
	ws = t.takeWaitersLocked()
	release := !w.released
	w.released = true
	t.mu.Unlock()
	wake(ws)
	if release {
		w.s.release(t)
	}
	return nil
}

// flush commits everything sealed or pending, in one transaction with the
// stream's summary row and the NOTIFY for other processes.
func (w *Writer) flush(ctx context.Context, final bool, status string) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	if w.done {
		return nil
	}
	t := w.t
	t.mu.Lock()
	if w.detached {
		t.mu.Unlock()
		return ErrReplaced
	}
	w.sealLocked()
	w.unsent = append(w.unsent, w.sealed...)
	w.sealed = nil
	noticeLine := w.noticeLine
	t.mu.Unlock()
	if len(w.unsent) == 0 && !final {
		return nil
	}

	rows := make([]models.LogChunk, len(w.unsent))
	lines, bytes := w.storedLines, w.storedBytes
	for i, c := range w.unsent {
		rows[i] = models.LogChunk{Stream: w.stream, Seq: w.seq + 1 + i, FirstLine: c.first, LineCount: c.count, Data: c.data}
		lines = c.first + c.count - 1
		bytes += int64(len(c.data)) + 1
	}
	summary := &models.LogStream{
		Stream: w.stream, Lines: lines, Bytes: bytes,
		Truncated: noticeLine > 0 && lines >= noticeLine,
		Closed:    final, Status: status,
	}
	payload, err := json.Marshal(notice{Stream: w.stream, Line: lines, Closed: final})
	if err != nil {
		return fmt.Errorf("logs: flush %s: %w", w.stream, err)
	}
	err = w.s.store.Tx(ctx, func(tx *models.Store) error {
		for i := range rows {
			if err := tx.AppendLogChunk(ctx, &rows[i]); err != nil {
				return err
			}
		}
		if err := tx.UpsertLogStream(ctx, summary); err != nil {
			return err
		}
		// Delivered at commit, so a listener never reads ahead of the data.
		return tx.NotifyLogs(ctx, Channel, string(payload))
	})
	if err != nil {
		return fmt.Errorf("logs: flush %s: %w", w.stream, err)
	}
	w.seq += len(rows)
	w.storedLines, w.storedBytes = lines, bytes
	w.unsent = nil
	w.done = final

	t.mu.Lock()
	t.flushed = lines
	t.evictLocked(w.s.opts.Window)
	t.mu.Unlock()
	return nil
}

// loop flushes in the background: a batch is flushed when its first line
// is flushInterval old or when a chunk is full, whichever comes first.
func (w *Writer) loop() {
	defer close(w.loopDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := false
	for {
		if !retry {
			select {
			case <-w.kick:
			case <-w.stop:
				return
			case <-w.s.ctx.Done():
				return
			}
		}
		// The deadline counts from the oldest waiting line, not from now:
		// lines that arrived while the previous flush committed have
		// already waited that long.
		wait := max(flushInterval-w.pendingAge(), 0)
		if retry {
			wait = time.Second
		}
		timer.Reset(wait)
	batch:
		for !w.hasFullChunk() {
			select {
			case <-timer.C:
				break batch
			case <-w.kick:
			case <-w.stop:
				timer.Stop()
				return
			case <-w.s.ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		err := w.flush(w.s.ctx, false, "")
		switch {
		case err == nil:
			retry = false
		case errors.Is(err, ErrReplaced) || w.s.ctx.Err() != nil:
			return
		default:
			// The lines stay queued; Close retries them too.
			w.s.log.Error("logs: background flush failed", slog.String("stream", w.stream), slog.Any("err", err))
			retry = true
		}
	}
}

// pendingAge is how long the oldest line not yet taken by a flush has waited.
func (w *Writer) pendingAge() time.Duration {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if w.pendCount == 0 && len(w.sealed) == 0 {
		return 0
	}
	return time.Since(w.pendSince)
}

func (w *Writer) hasFullChunk() bool {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	return len(w.sealed) > 0
}

func (w *Writer) stopLoop() { w.stopOnce.Do(func() { close(w.stop) }) }

// detachLocked retires a Writer replaced by a newer one: its queued lines
// are dropped, as a crash would have dropped them. The caller holds t.mu.
func (w *Writer) detachLocked() {
	w.detached = true
	w.released = true
	w.pending, w.pendCount, w.sealed = nil, 0, nil
	if w.t.writer == w {
		w.t.writer = nil
	}
}

// eachLine calls fn for each line of text: text is split at "\n" (one
// trailing newline is dropped) and lines longer than MaxLineBytes are
// split at a UTF-8 boundary.
func eachLine(text string, fn func(string)) {
	text = strings.TrimSuffix(text, "\n")
	for {
		line, rest, more := strings.Cut(text, "\n")
		for len(line) > MaxLineBytes {
			cut := MaxLineBytes
			for cut > MaxLineBytes-utf8.UTFMax && !utf8.RuneStart(line[cut]) {
				cut--
			}
			fn(line[:cut])
			line = line[cut:]
		}
		fn(line)
		if !more {
			return
		}
		text = rest
	}
}

// sizeString renders a byte count the way the notice shows it ("64 MiB").
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
