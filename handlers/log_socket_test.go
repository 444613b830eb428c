package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/models"
)

func TestLogSocketReplaysAFinishedLogThenEnds(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildSucceeded, time.Minute)
	writeLines(t, ls.logs, b.LogStream(), models.BuildSucceeded, numbered("line", 1, 600)...)

	tests := []struct {
		name  string
		query string
		from  int
	}{
		{"from the start", "", 1},
		{"from a middle line", "?from=250", 250},
		{"from past the end", "?from=601", 601},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := ls.dialAPI(t, b.ID, tt.query)
			defer conn.Close()
			c := newCollector(t, tt.from)
			c.readToEnd(conn)
			if want := numbered("line", tt.from, 600); strings.Join(c.lines, "|") != strings.Join(want, "|") {
				t.Fatalf("got %d lines from %d, want lines %d..600", len(c.lines), tt.from, tt.from)
			}
			if c.end.Status != models.BuildSucceeded || c.end.Truncated {
				t.Fatalf("end frame = %+v, want status succeeded, not truncated", c.end)
			}
		})
	}
}

func TestLogSocketFormats(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildFailed, time.Minute)
	writeLines(t, ls.logs, b.LogStream(), models.BuildFailed, "\x1b[31m<b>boom</b>\x1b[0m")

	tests := []struct {
		name string
		dial func(t testing.TB) *websocket.Conn
		want string
	}{
		{"the browser endpoint sends escaped HTML", func(t testing.TB) *websocket.Conn { return ls.dialBrowser(t, b.ID, "") },
			`<span class="term-fg31">&lt;b&gt;boom&lt;&#47;b&gt;</span>`},
		{"the API endpoint sends raw text", func(t testing.TB) *websocket.Conn { return ls.dialAPI(t, b.ID, "") },
			"\x1b[31m<b>boom</b>\x1b[0m"},
		{"format=html on the API sends HTML", func(t testing.TB) *websocket.Conn { return ls.dialAPI(t, b.ID, "?format=html") },
			`<span class="term-fg31">&lt;b&gt;boom&lt;&#47;b&gt;</span>`},
		{"format=raw on the browser endpoint sends raw text", func(t testing.TB) *websocket.Conn { return ls.dialBrowser(t, b.ID, "?format=raw") },
			"\x1b[31m<b>boom</b>\x1b[0m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := tt.dial(t)
			defer conn.Close()
			c := newCollector(t, 1)
			c.readToEnd(conn)
			if len(c.lines) != 1 || c.lines[0] != tt.want {
				t.Fatalf("lines = %q, want [%q]", c.lines, tt.want)
			}
			if c.end.Status != models.BuildFailed {
				t.Fatalf("end status %q, want failed", c.end.Status)
			}
		})
	}
}

func TestLogSocketChecksOriginAndPermission(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildRunning, 0)
	browser := fmt.Sprintf("/builds/%d/log/ws", b.ID)
	api := fmt.Sprintf("/api/v1/builds/%d/log/ws", b.ID)

	tests := []struct {
		name   string
		path   string
		cookie bool
		token  bool
		origin string
		want   int
	}{
		{"a browser socket from another site is refused", browser, true, false, "http://evil.example", http.StatusForbidden},
		{"a browser socket without Origin is refused", browser, true, false, "", http.StatusForbidden},
		{"a browser socket with a look-alike origin is refused", browser, true, false, "http://127.0.0.1.evil.example", http.StatusForbidden},
		{"a browser socket from this site opens", browser, true, false, "self", http.StatusSwitchingProtocols},
		{"a browser socket without a session is sent to sign in", browser, false, false, "self", http.StatusSeeOther},
		{"an API socket with a token and no Origin opens", api, false, true, "", http.StatusSwitchingProtocols},
		{"an API socket from another site is refused", api, false, true, "http://evil.example", http.StatusForbidden},
		{"an API socket without a token is unauthorized", api, false, false, "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.cookie {
				h.Set("Cookie", sessionCookie+"="+ls.session)
			}
			if tt.token {
				h.Set("Authorization", "Bearer "+ls.token)
			}
			switch tt.origin {
			case "self":
				h.Set("Origin", ls.srv.URL)
			case "":
			default:
				h.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(ls.wsURL(tt.path), h)
			if conn != nil {
				conn.Close()
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	t.Run("a role without view permission is forbidden", func(t *testing.T) {
		// Every role views projects today; an unknown role holds nothing.
		u := ls.user("nobody", "ghost")
		h := http.Header{}
		h.Set("Cookie", sessionCookie+"="+ls.testServer.session(u))
		h.Set("Origin", ls.srv.URL)
		_, resp, _ := websocket.DefaultDialer.Dial(ls.wsURL(browser), h)
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %s, want 403", respStatus(resp))
		}
	})
	t.Run("a missing build is not found", func(t *testing.T) {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+ls.token)
		_, resp, _ := websocket.DefaultDialer.Dial(ls.wsURL("/api/v1/builds/99999/log/ws"), h)
		if resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("got %s, want 404", respStatus(resp))
		}
	})
	t.Run("a bad from is a bad request", func(t *testing.T) {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+ls.token)
		_, resp, _ := websocket.DefaultDialer.Dial(ls.wsURL(api+"?from=-3"), h)
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("got %s, want 400", respStatus(resp))
		}
	})
}

// TestLogSocketResume: a client disconnects mid-stream and reconnects
// from its last line + 1; across both connections it receives every
// line exactly once, in order, then the end.
func TestLogSocketResume(t *testing.T) {
	const total = 5000
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildRunning, 0)
	ctx := context.Background()
	w, err := ls.logs.NewWriter(ctx, b.LogStream())
	if err != nil {
		t.Fatal(err)
	}
	produced := make(chan error, 1)
	halfway := make(chan struct{})
	go func() {
		for i := 1; i <= total; i++ {
			w.Line(fmt.Sprintf("line %d", i))
			if i == total/2 {
				close(halfway)
				// Let the first client read past its cut while the
				// build is still running.
				time.Sleep(200 * time.Millisecond)
			}
			if i%500 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		produced <- w.Close(ctx, models.BuildSucceeded)
	}()

	c := newCollector(t, 1)
	conn := ls.dialAPI(t, b.ID, "")
	<-halfway
	for len(c.lines) < 1000 {
		f, err := readFrame(t, conn)
		if err != nil {
			t.Fatal(err)
		}
		c.add(f)
	}
	conn.Close() // mid-stream, without a close frame
	if c.end != nil {
		t.Fatal("the stream ended before the client disconnected; the test proves nothing")
	}

	conn = ls.dialAPI(t, b.ID, fmt.Sprintf("?from=%d", c.next))
	defer conn.Close()
	c.readToEnd(conn)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if len(c.lines) != total {
		t.Fatalf("got %d lines, want %d", len(c.lines), total)
	}
	for i, l := range c.lines {
		if want := fmt.Sprintf("line %d", i+1); l != want {
			t.Fatalf("line %d is %q, want %q", i+1, l, want)
		}
	}
	if c.end.Status != models.BuildSucceeded {
		t.Fatalf("end status %q", c.end.Status)
	}
}

// TestLogSocketSlowClient: a client that reads nothing for 5 s does not
// delay the producer, then catches up with no gap.
func TestLogSocketSlowClient(t *testing.T) {
	const total = 20_000
	ls := newLogServer(t, models.Config{})
	// This test is about the hub, not about dropping stuck clients: give
	// the socket's writes all the time a loaded machine may need.
	ls.h.logv.Config.WriteWait = 5 * time.Minute
	b := insertBuild(t, ls.store, models.BuildRunning, 0)
	ctx := context.Background()
	w, err := ls.logs.NewWriter(ctx, b.LogStream())
	if err != nil {
		t.Fatal(err)
	}
	// A small receive buffer (no autotuning) so the ~16 MB below cannot
	// hide in kernel buffers: the server's writer really is stuck.
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = conn.(*net.TCPConn).SetReadBuffer(32 << 10)
		}
		return conn, err
	}}
	hd := http.Header{}
	hd.Set("Cookie", sessionCookie+"="+ls.session)
	hd.Set("Origin", ls.srv.URL)
	conn, _, err := dialer.Dial(ls.wsURL(fmt.Sprintf("/builds/%d/log/ws?format=raw", b.ID)), hd)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newCollector(t, 1)
	f, err := readFrame(t, conn) // the state frame: the socket is subscribed
	if err != nil {
		t.Fatal(err)
	}
	c.add(f)

	// The producer is the build printing: its Line calls. Storing the
	// chunks continues in the background and ends with Close.
	printed := make(chan struct{})
	produced := make(chan error, 1)
	pad := strings.Repeat("x", 800)
	go func() {
		st := time.Now()
		for i := 1; i <= total; i++ {
			w.Line(fmt.Sprintf("line %d %s", i, pad))
		}
		t.Logf("printed %d lines in %v", total, time.Since(st))
		close(printed)
		produced <- w.Close(ctx, models.BuildSucceeded)
	}()
	// The client reads nothing for at least 5 s. A producer held back by
	// the stuck socket would never finish; the bound is only a backstop
	// for a loaded machine, not a speed requirement.
	start := time.Now()
	select {
	case <-printed:
	case <-time.After(2 * time.Minute):
		t.Fatal("the producer could not print its lines while the client read nothing: it was blocked by the client")
	}
	time.Sleep(5*time.Second - time.Since(start))
	c.readToEnd(conn)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if len(c.lines) != total {
		t.Fatalf("got %d lines, want %d", len(c.lines), total)
	}
	for _, i := range []int{1, 777, 12345, total} {
		if want := fmt.Sprintf("line %d %s", i, pad); c.lines[i-1] != want {
			t.Fatalf("line %d is %q", i, c.lines[i-1])
		}
	}
}

// TestLogSocketEndsWhenTheOwnerFinishedWithoutClosingTheStream covers a
// worker that crashed: the build is finished but its stream was never
// closed; the socket sends what is stored and ends with the build's
// status instead of waiting forever.
func TestLogSocketEndsWhenTheOwnerFinishedWithoutClosingTheStream(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	crashed := insertBuild(t, ls.store, models.BuildInterrupted, time.Minute)
	writeLines(t, ls.logs, crashed.LogStream(), "", numbered("line", 1, 300)...)
	never := insertBuild(t, ls.store, models.BuildCanceled, time.Minute)

	tests := []struct {
		name  string
		build *models.Build
		want  int
	}{
		{"a stream left open ends with the build's status", crashed, 300},
		{"a build that never logged ends at once", never, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := ls.dialAPI(t, tt.build.ID, "")
			defer conn.Close()
			c := newCollector(t, 1)
			c.readToEnd(conn)
			if len(c.lines) != tt.want || c.end.Status != tt.build.Status {
				t.Fatalf("got %d lines and end %+v, want %d lines and status %s", len(c.lines), c.end, tt.want, tt.build.Status)
			}
		})
	}
}

func TestLogSocketSendsStepsAndPings(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	ls.h.logv.Config.Ping = 50 * time.Millisecond
	ls.h.logv.Config.StateEvery = 50 * time.Millisecond
	b := insertBuild(t, ls.store, models.BuildRunning, 0,
		models.BuildStep{Name: "checkout", Status: models.BuildSucceeded, FirstLine: 1, LastLine: 2, DurationMS: 1500},
		models.BuildStep{Name: "test", Status: models.BuildRunning, FirstLine: 3})
	conn := ls.dialAPI(t, b.ID, "")
	defer conn.Close()
	pings := 0
	conn.SetPingHandler(func(string) error {
		pings++
		return conn.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	})
	f, err := readFrame(t, conn)
	if err != nil {
		t.Fatal(err)
	}
	if f.T != "state" || f.Status != "running" || len(f.Steps) != 2 || f.Steps[1].Name != "test" || f.Steps[1].First != 3 || f.Steps[1].Last != 0 {
		t.Fatalf("first frame = %+v, want the state with both steps", f)
	}
	// The step finishes: a new state frame says so.
	if _, err := ls.store.SQLDB().Exec("UPDATE build_steps SET last_line = 9 WHERE name = 'test'"); err != nil {
		t.Fatal(err)
	}
	updated := false
	for !updated || pings < 2 {
		f, err := readFrame(t, conn)
		if err != nil {
			t.Fatalf("reading (state updated: %v, pings: %d): %v", updated, pings, err)
		}
		if f.T == "state" && len(f.Steps) == 2 && f.Steps[1].Last == 9 {
			updated = true
		}
	}
}

// TestLogSocketChurn: 1,000 connects and disconnects leave no goroutine
// behind.
func TestLogSocketChurn(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildRunning, 0)
	writeLines(t, ls.logs, b.LogStream(), "", numbered("line", 1, 50)...)
	// Warm up pools and caches before measuring.
	for range 5 {
		conn := ls.dialAPI(t, b.ID, "")
		readFrame(t, conn)
		conn.Close()
	}
	waitGoroutines(t, 0)
	base := runtime.NumGoroutine()

	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range 1000 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h := http.Header{}
			h.Set("Cookie", sessionCookie+"="+ls.session)
			h.Set("Origin", ls.srv.URL)
			conn, _, err := websocket.DefaultDialer.Dial(ls.wsURL(fmt.Sprintf("/builds/%d/log/ws?from=%d", b.ID, 1+i%60)), h)
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			conn.ReadMessage()
			if i%2 == 0 {
				// A polite client says goodbye; a rude one just drops.
				conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			}
			conn.Close()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitGoroutines(t, base)
}

// waitGoroutines waits until at most max goroutines run (max 0: until the
// count stops falling), failing after 20 s with a dump.
func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	prev := -1
	for {
		n := runtime.NumGoroutine()
		if max > 0 && n <= max || max == 0 && n == prev {
			return
		}
		if time.Now().After(deadline) {
			if max == 0 {
				return
			}
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines still run, want at most %d:\n%s", n, max, buf)
		}
		prev = n
		time.Sleep(100 * time.Millisecond)
	}
}
