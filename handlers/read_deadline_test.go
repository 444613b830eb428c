package handlers

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// A route that takes large bodies gets its own, longer read deadline; the
// server's read timeout still cuts other routes, and the long deadline
// still cuts a client slower than it.
func TestReadDeadlineExtendsOneRouteOnly(t *testing.T) {
	h := New(Deps{}, Config{})
	e := echo.New()
	readAll := func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, strconv.Itoa(len(b)))
	}
	e.POST("/long", readAll, h.readDeadline(3*time.Second))
	e.POST("/short", readAll)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e, ReadTimeout: time.Second, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// send posts n bytes, one every gap, and returns the answer's status
	// (0 when the server closed without one).
	send := func(path string, n int, gap time.Duration) int {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, n)
		go func() {
			for range n {
				time.Sleep(gap)
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// 5 bytes over 2 s: past the server's 1 s, within the route's 3 s.
	if st := send("/long", 5, 400*time.Millisecond); st != http.StatusOK {
		t.Errorf("the long route, 2 s body: got %d, want 200", st)
	}
	if st := send("/short", 5, 400*time.Millisecond); st == http.StatusOK {
		t.Errorf("another route, 2 s body: got 200, want it cut off at the server's 1 s")
	}
	// 10 bytes over 5 s: past the route's own 3 s.
	if st := send("/long", 10, 500*time.Millisecond); st == http.StatusOK {
		t.Errorf("the long route, 5 s body: got 200, want it cut off at its 3 s")
	}
}
