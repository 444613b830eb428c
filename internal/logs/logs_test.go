package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// database opens Stores on one migrated database; each call to open gives
// a separate Store (a separate pool), as a separate process would have.
type database struct {
	dialect models.Dialect
	open    func(t testing.TB) *models.Store
}

func sqliteDB(t testing.TB) database {
	dir := t.TempDir()
	db := database{dialect: models.SQLite, open: func(t testing.TB) *models.Store {
		return testkit.OpenStore(t, testkit.On(models.Config{DataDir: dir}))
	}}
	return db
}

func postgresDB(t testing.TB) database {
	url := testpg.NewDatabase(t)
	return database{dialect: models.Postgres, open: func(t testing.TB) *models.Store {
		return testkit.OpenStore(t, testkit.On(models.Config{URL: url}))
	}}
}

// eachDB runs fn on SQLite and on a real PostgreSQL.
func eachDB(t *testing.T, fn func(t *testing.T, db database)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDB(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresDB(t)) })
}

// newService starts a Service over store and closes it when the test ends.
func newService(t testing.TB, store *models.Store, opts Options) *Service {
	t.Helper()
	s := NewService(store, opts)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newWriter(t testing.TB, s *Service, stream string) *Writer {
	t.Helper()
	w, err := s.NewWriter(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func subscribe(t testing.TB, s *Service, stream string, from int) *Subscription {
	t.Helper()
	sub, err := s.Subscribe(context.Background(), stream, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

func lineText(n int) string { return fmt.Sprintf("line %d \x1b[32mok\x1b[0m", n) }

// expectLines reads lines from..to from sub, failing on any gap,
// duplicate or wrong text.
func expectLines(t testing.TB, ctx context.Context, sub *Subscription, from, to int) {
	t.Helper()
	for want := from; want <= to; want++ {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for line %d: %v", want, err)
		}
		if ev.End != nil || ev.Line != want || ev.Text != lineText(want) {
			t.Fatalf("got %+v, want line %d %q", ev, want, lineText(want))
		}
	}
}

func expectEnd(t testing.TB, ctx context.Context, sub *Subscription, status string, truncated bool) *End {
	t.Helper()
	ev, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("waiting for the end: %v", err)
	}
	if ev.End == nil || ev.End.Status != status || ev.End.Truncated != truncated {
		t.Fatalf("got %+v (end %+v), want the end with status %q truncated=%v", ev, ev.End, status, truncated)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: got %v, want io.EOF", err)
	}
	return ev.End
}

func TestWriterNumbersStoresAndReads(t *testing.T) {
	eachDB(t, func(t *testing.T, db database) {
		ctx := testCtx(t)
		s := newService(t, db.open(t), Options{})
		w := newWriter(t, s, "build:1")
		long := strings.Repeat("é", MaxLineBytes) // 2 bytes a rune: two full pieces
		tests := []struct {
			name string
			text string
			want int
		}{
			{"the first line is number one", "hello", 1},
			{"an empty line is a line", "", 2},
			{"a trailing newline does not make an extra line", "trailing\n", 3},
			{"embedded newlines make one line each and return the first", "a\nb\nc", 4},
			{"ANSI escapes are kept as they are", "\x1b[31mred\x1b[0m", 7},
			{"a line over 64 KiB is split at a rune boundary", long, 8},
			{"numbering continues after a split", "after", 10},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if got := w.Line(tc.text); got != tc.want {
					t.Fatalf("Line(%.20q) = %d, want %d", tc.text, got, tc.want)
				}
			})
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		p, err := s.Read(ctx, "build:1", 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"hello", "", "trailing", "a", "b", "c", "\x1b[31mred\x1b[0m", long[:MaxLineBytes], long[MaxLineBytes:], "after"}
		if len(p.Lines) != len(want) {
			t.Fatalf("read %d lines, want %d", len(p.Lines), len(want))
		}
		for i, ev := range p.Lines {
			if ev.Line != i+1 || ev.Text != want[i] {
				t.Fatalf("line %d: got %d %.30q, want %.30q", i+1, ev.Line, ev.Text, want[i])
			}
		}
		if p.Next != 11 || p.Total != 10 || p.Closed || p.AtEnd() {
			t.Fatalf("an open stream's page: %+v", p)
		}

		if err := w.Close(ctx, "succeeded"); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(ctx, "succeeded"); err != nil {
			t.Fatalf("a second Close must do nothing, got %v", err)
		}
		if n := w.Line("late"); n != 0 {
			t.Fatalf("a line after Close got number %d", n)
		}
		p, err = s.Read(ctx, "build:1", 4, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Lines) != 3 || p.Lines[0].Text != "a" || p.Lines[2].Text != "c" || p.Next != 7 || !p.Closed || p.Status != "succeeded" || p.AtEnd() {
			t.Fatalf("a page from the middle: %+v", p)
		}
		p, err = s.Tail(ctx, "build:1", 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Lines) != 2 || p.Lines[1].Text != "after" || p.Lines[0].Line != 9 || !p.AtEnd() {
			t.Fatalf("tail: %+v", p)
		}
		p, err = s.Read(ctx, "build:404", 1, 10)
		if err != nil || len(p.Lines) != 0 || p.Closed || p.Next != 1 {
			t.Fatalf("a stream that does not exist reads as empty and open: %+v %v", p, err)
		}
	})
}

func TestFlushBatchesInTheBackground(t *testing.T) {
	ctx := testCtx(t)
	store := sqliteDB(t).open(t)
	s := newService(t, store, Options{})
	w := newWriter(t, s, "build:2")
	// 200 lines of 1 KiB: more than three chunks' worth, never flushed by hand.
	for i := 1; i <= 200; i++ {
		w.Line(strings.Repeat("x", 1023))
	}
	for {
		ls, err := store.LogStream(ctx, "build:2")
		if err != nil {
			t.Fatal(err)
		}
		if ls.Lines == 200 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the background flusher stored only %d of 200 lines", ls.Lines)
		case <-time.After(20 * time.Millisecond):
		}
	}
	chunks, err := store.LogChunks(ctx, "build:2", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 4 {
		t.Fatalf("200 KiB went into %d chunks; chunks are at most 64 KiB", len(chunks))
	}
	for i, c := range chunks {
		if len(c.Data) > chunkBytes || c.Seq != i+1 || (i > 0 && c.FirstLine != chunks[i-1].LastLine()+1) {
			t.Fatalf("chunk %d: seq %d first %d, %d bytes", i, c.Seq, c.FirstLine, len(c.Data))
		}
	}
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriberResumesFromItsLastLine(t *testing.T) {
	eachDB(t, func(t *testing.T, db database) {
		ctx := testCtx(t)
		// A small window makes the resumed reader start from the store.
		s := newService(t, db.open(t), Options{Window: 100})
		w := newWriter(t, s, "deploy:7")
		const total, cut = 3000, 1234

		first := subscribe(t, s, "deploy:7", 1)
		written := make(chan error, 1)
		go func() {
			written <- func() error {
				for i := 1; i <= total; i++ {
					if n := w.Line(lineText(i)); n != i {
						return fmt.Errorf("line %d got number %d", i, n)
					}
					if i%500 == 0 {
						if err := w.Flush(ctx); err != nil {
							return err
						}
					}
				}
				return w.Close(ctx, "failed")
			}()
		}()
		expectLines(t, ctx, first, 1, cut)
		first.Close()
		if _, err := first.Next(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: got %v, want ErrClosed", err)
		}

		second := subscribe(t, s, "deploy:7", cut+1)
		expectLines(t, ctx, second, cut+1, total)
		end := expectEnd(t, ctx, second, "failed", false)
		if end.Lines != total {
			t.Fatalf("end says %d lines, want %d", end.Lines, total)
		}
		if err := <-written; err != nil {
			t.Fatal(err)
		}
		// Once finished, a late subscriber replays from the store alone.
		late, err := NewService(db.open(t), Options{}).Subscribe(ctx, "deploy:7", total-2)
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		expectLines(t, ctx, late, total-2, total)
		expectEnd(t, ctx, late, "failed", false)
	})
}

func TestSlowSubscriberNeverBlocksTheWriter(t *testing.T) {
	eachDB(t, func(t *testing.T, db database) {
		ctx := testCtx(t)
		const total, window = 200_000, 1000
		s := newService(t, db.open(t), Options{Window: window})
		w := newWriter(t, s, "build:3")
		slow := subscribe(t, s, "build:3", 1)
		fast := subscribe(t, s, "build:3", 1)

		// The fast one reads concurrently; the slow one reads one line and
		// then nothing at all until the writer is done. A fan-out that
		// blocked on a reader would never get past the loop below.
		fastDone := make(chan error, 1)
		go func() {
			for i := 1; i <= total; i++ {
				ev, err := fast.Next(ctx)
				if err != nil {
					fastDone <- err
					return
				}
				if ev.Line != i || ev.Text != lineText(i) {
					fastDone <- fmt.Errorf("fast subscriber got %+v, want line %d", ev, i)
					return
				}
			}
			fastDone <- nil
		}()
		w.Line(lineText(1))
		expectLines(t, ctx, slow, 1, 1)
		for i := 2; i <= total; i++ {
			w.Line(lineText(i))
		}
		if err := w.Close(ctx, "succeeded"); err != nil {
			t.Fatal(err)
		}

		// Memory stayed bounded: the window never holds more than its
		// size once the lines are flushed.
		s.mu.Lock()
		tp := s.topics["build:3"]
		s.mu.Unlock()
		tp.mu.Lock()
		held := len(tp.lines)
		tp.mu.Unlock()
		if held > window {
			t.Fatalf("the window holds %d lines, more than %d", held, window)
		}

		expectLines(t, ctx, slow, 2, total)
		expectEnd(t, ctx, slow, "succeeded", false)
		if err := <-fastDone; err != nil {
			t.Fatal(err)
		}
		expectEnd(t, ctx, fast, "succeeded", false)
	})
}

func TestCapEndsInAVisibleTruncationNotice(t *testing.T) {
	eachDB(t, func(t *testing.T, db database) {
		ctx := testCtx(t)
		store := db.open(t)
		s := newService(t, store, Options{MaxBytes: 1 << 10})
		w := newWriter(t, s, "build:4")
		sub := subscribe(t, s, "build:4", 1)
		accepted, dropped := 0, 0
		for i := 1; i <= 100; i++ {
			if w.Line(strings.Repeat("y", 49)) == 0 { // 50 bytes with its newline
				dropped++
			} else {
				accepted++
			}
		}
		if accepted != 20 || dropped != 80 || !w.Truncated() {
			t.Fatalf("a 1 KiB cap over 50-byte lines: accepted %d dropped %d truncated %v", accepted, dropped, w.Truncated())
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if ls, err := store.LogStream(ctx, "build:4"); err != nil || !ls.Truncated || ls.Closed {
			t.Fatalf("the stream must be marked truncated as soon as the notice is stored: %+v %v", ls, err)
		}
		if err := w.Close(ctx, "failed"); err != nil {
			t.Fatal(err)
		}
		p, err := s.Read(ctx, "build:4", 21, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Lines) != 2 || !p.Truncated || !p.AtEnd() {
			t.Fatalf("after the cap: %+v", p)
		}
		if want := "[slipway] log truncated: the 1 KiB limit was reached; further lines are dropped"; p.Lines[0].Text != want {
			t.Fatalf("notice %q, want %q", p.Lines[0].Text, want)
		}
		if want := "[slipway] log truncated: the 1 KiB limit was reached; 4000 further bytes (80 lines) dropped"; p.Lines[1].Text != want {
			t.Fatalf("final notice %q, want %q", p.Lines[1].Text, want)
		}
		for i := 1; i <= 22; i++ {
			if _, err := sub.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
		expectEnd(t, ctx, sub, "failed", true)

		// A truncated stream reopened after a crash stays truncated.
		w2 := newWriter(t, s, "build:4")
		if n := w2.Line("more"); n != 0 || !w2.Truncated() {
			t.Fatalf("a reopened truncated stream accepted line %d", n)
		}
		if err := w2.Close(ctx, "interrupted"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewWriterResumesNumberingAfterACrash(t *testing.T) {
	eachDB(t, func(t *testing.T, db database) {
		ctx := testCtx(t)
		crashed := NewService(db.open(t), Options{})
		w := newWriter(t, crashed, "build:5")
		for i := 1; i <= 10; i++ {
			w.Line(lineText(i))
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w.Line("never flushed") // lost with the process
		crashed.Close()

		t.Run("a new process continues after the last stored line", func(t *testing.T) {
			s := newService(t, db.open(t), Options{})
			w2 := newWriter(t, s, "build:5")
			if n := w2.Line(lineText(11)); n != 11 {
				t.Fatalf("first line after the crash got number %d, want 11", n)
			}
			if err := w2.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// A Writer dropped without Close in the same process is
			// taken over the same way.
			w3 := newWriter(t, s, "build:5")
			if n := w2.Line("from the replaced writer"); n != 0 {
				t.Fatalf("a replaced writer still numbers lines: %d", n)
			}
			if err := w2.Close(ctx, "succeeded"); !errors.Is(err, ErrReplaced) {
				t.Fatalf("closing a replaced writer: got %v, want ErrReplaced", err)
			}
			if n := w3.Line(lineText(12)); n != 12 {
				t.Fatalf("line after the takeover got number %d, want 12", n)
			}
			if err := w3.Close(ctx, "interrupted"); err != nil {
				t.Fatal(err)
			}
			sub := subscribe(t, s, "build:5", 1)
			expectLines(t, ctx, sub, 1, 12)
			expectEnd(t, ctx, sub, "interrupted", false)
		})
	})
}

func TestSubscriberInAnotherProcessFollowsLive(t *testing.T) {
	eachDB(t, func(t *testing.T, db database) {
		ctx := testCtx(t)
		writerSide := newService(t, db.open(t), Options{})
		readerSide := newService(t, db.open(t), Options{})
		if db.dialect == models.Postgres && !readerSide.listening.Load() {
			t.Fatal("a started Service on PostgreSQL must be listening")
		}
		sub := subscribe(t, readerSide, "loadtest:3", 1)
		w := newWriter(t, writerSide, "loadtest:3")
		// Ping-pong: each line must reach the other Service before the next
		// is written, so nothing here works unless lines arrive live. On
		// PostgreSQL there is no polling while listening, so only NOTIFY
		// can deliver them; on SQLite the 1 s poll does.
		lines := 30
		if db.dialect == models.SQLite {
			lines = 3
		}
		for i := 1; i <= lines; i++ {
			w.Line(lineText(i))
			expectLines(t, ctx, sub, i, i)
		}
		if err := w.Close(ctx, "passed"); err != nil {
			t.Fatal(err)
		}
		expectEnd(t, ctx, sub, "passed", false)
	})
}

func TestListenerReconnectsAfterItsConnectionDies(t *testing.T) {
	db := postgresDB(t)
	ctx := testCtx(t)
	writerSide := newService(t, db.open(t), Options{})
	readerStore := db.open(t)
	readerSide := newService(t, readerStore, Options{})
	sub := subscribe(t, readerSide, "build:6", 1)
	w := newWriter(t, writerSide, "build:6")
	w.Line(lineText(1))
	expectLines(t, ctx, sub, 1, 1)

	res := readerStore.SQLDB().QueryRowContext(ctx,
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`)
	var killed int
	// Both Services listen on this database; both lose their connection.
	if err := res.Scan(&killed); err != nil || killed != 2 {
		t.Fatalf("terminating the listener: killed %d, %v", killed, err)
	}
	for i := 2; i <= 20; i++ {
		w.Line(lineText(i))
		expectLines(t, ctx, sub, i, i)
	}
	for !readerSide.listening.Load() {
		select {
		case <-ctx.Done():
			t.Fatal("the listener never reconnected")
		case <-time.After(20 * time.Millisecond):
		}
	}
	w.Line(lineText(21))
	expectLines(t, ctx, sub, 21, 21)
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, ctx, sub, "succeeded", false)
}

func TestManySubscribersGetEveryLine(t *testing.T) {
	ctx := testCtx(t)
	s := newService(t, sqliteDB(t).open(t), Options{Window: 500})
	w := newWriter(t, s, "build:8")
	const subs, total = 20, 20_000
	errs := make(chan error, subs)
	for k := 0; k < subs; k++ {
		sub := subscribe(t, s, "build:8", 1)
		go func() {
			for i := 1; i <= total; i++ {
				ev, err := sub.Next(ctx)
				if err != nil || ev.Line != i || ev.Text != lineText(i) {
					errs <- fmt.Errorf("subscriber %d: got %+v %v, want line %d", k, ev, err, i)
					return
				}
				if k%4 == 0 && i%1000 == 0 {
					runtime.Gosched() // some readers lag and fall back to the store
				}
			}
			ev, err := sub.Next(ctx)
			if err != nil || ev.End == nil {
				errs <- fmt.Errorf("subscriber %d: got %+v %v, want the end", k, ev, err)
				return
			}
			errs <- nil
		}()
	}
	for i := 1; i <= total; i++ {
		w.Line(lineText(i))
	}
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < subs; k++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSubscriptionsLeaveNoGoroutines(t *testing.T) {
	ctx := testCtx(t)
	store := sqliteDB(t).open(t)
	settle := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settle()
	s := NewService(store, Options{})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, s, "build:9")
	w.Line(lineText(1))
	for i := 0; i < 300; i++ {
		subCtx, cancel := context.WithCancel(ctx)
		sub, err := s.Subscribe(subCtx, "build:9", 1)
		if err != nil {
			t.Fatal(err)
		}
		expectLines(t, ctx, sub, 1, 1)
		blocked := make(chan error, 1)
		go func() {
			_, err := sub.Next(ctx)
			blocked <- err
		}()
		switch i % 3 {
		case 0:
			sub.Close()
			if err := <-blocked; !errors.Is(err, ErrClosed) {
				t.Fatalf("a Next blocked during Close returned %v, want ErrClosed", err)
			}
		case 1:
			cancel() // the subscription ends with the context it was made with
			if err := <-blocked; !errors.Is(err, ErrClosed) {
				t.Fatalf("a Next blocked when the context ended returned %v, want ErrClosed", err)
			}
		case 2:
			nctx, ncancel := context.WithCancel(ctx)
			ncancel()
			sub.Close()
			<-blocked
			if _, err := sub.Next(nctx); err == nil {
				t.Fatal("Next on a closed subscription must fail")
			}
		}
		cancel()
	}
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
	// A writer left open is stopped by the Service's Close.
	newWriter(t, s, "build:10").Line("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, "build:9", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: got %v, want ErrClosed", err)
	}
	after := settle()
	for deadline := time.Now().Add(5 * time.Second); after > before && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		after = settle()
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	s.mu.Lock()
	left := len(s.topics)
	s.mu.Unlock()
	if left != 1 { // only the writer left open holds its topic
		t.Fatalf("%d topics left in the hub, want 1", left)
	}
}

func TestReadPastTheEndKeepsTheTotal(t *testing.T) {
	ctx := testCtx(t)
	s := newService(t, sqliteDB(t).open(t), Options{})
	w := newWriter(t, s, "build:1")
	w.Line("a")
	w.Line("b")
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
	p, err := s.Read(ctx, "build:1", 50, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lines) != 0 || p.Total != 2 || !p.Closed {
		t.Fatalf("read past the end: %d lines, total %d, closed %v; want 0 lines, total 2, closed", len(p.Lines), p.Total, p.Closed)
	}
}

// TestSubscribeWithAContextAlreadyDone: the subscription ends at once
// (its cleanup then runs before Subscribe has returned) without a panic,
// and releases its topic.
func TestSubscribeWithAContextAlreadyDone(t *testing.T) {
	ctx := testCtx(t)
	s := newService(t, sqliteDB(t).open(t), Options{})
	for range 200 {
		done, cancel := context.WithCancel(ctx)
		cancel()
		sub, err := s.Subscribe(done, "build:1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Next(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next on a subscription whose context was done: got %v, want ErrClosed", err)
		}
		sub.Close()
	}
	s.mu.Lock()
	left := len(s.topics)
	s.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d topics left in the hub, want 0", left)
	}
}

func TestEachLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []int // lengths of the pieces
	}{
		{"an empty text is one empty line", "", []int{0}},
		{"a lone newline is one empty line", "\n", []int{0}},
		{"two newlines make two lines", "a\n\n", []int{1, 0}},
		{"a line of exactly 64 KiB stays whole", strings.Repeat("a", MaxLineBytes), []int{MaxLineBytes}},
		{"one byte over splits in two", strings.Repeat("a", MaxLineBytes+1), []int{MaxLineBytes, 1}},
		{"a split never cuts a rune", "ab" + strings.Repeat("€", MaxLineBytes/3), []int{MaxLineBytes - 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			eachLine(tc.in, func(s string) { got = append(got, len(s)) })
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("pieces %v, want %v", got, tc.want)
			}
		})
	}
}
