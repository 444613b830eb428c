package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that trickles its request (a byte a second) must be cut off
// when the read timeout passes, not hold a connection open for as long as
// it likes.
func TestSlowClientsAreCutOffAtTheReadTimeout(t *testing.T) {
	const readTimeout = 2 * time.Second
	stderr, done, _ := runInProcess(t, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--read-timeout", readTimeout.String())
	base := waitFor(t, stderr, servingURL, done)[1]
	addr := strings.TrimPrefix(base, "http://")
	cases := []struct {
		name  string
		head  string // sent at once
		trick string // then sent one byte a second
	}{
		{"a body sent a byte a second",
			"POST /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60\r\n\r\n",
			"username=slow&password=" + strings.Repeat("x", 37)},
		{"headers sent a byte a second", "GET /healthz HTTP/1.1\r\n", "Host: " + addr + "\r\nX-Slow: " + strings.Repeat("y", 40) + "\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, c.head); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := range len(c.trick) {
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
					if _, err := conn.Write([]byte{c.trick[i]}); err != nil {
						return
					}
				}
			}()
			// Whatever the server answers, it must then close: read to EOF.
			_ = conn.SetReadDeadline(time.Now().Add(readTimeout + 8*time.Second))
			_, err = io.Copy(io.Discard, conn)
			took := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server still held the connection open after %s (read timeout %s)", took.Round(time.Millisecond), readTimeout)
			}
			t.Logf("closed after %s", took.Round(time.Millisecond))
			if took > readTimeout+3*time.Second {
				t.Fatalf("closed after %s, want within about the read timeout (%s)", took.Round(time.Millisecond), readTimeout)
			}
		})
	}
	t.Run("a normal request still works", func(t *testing.T) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
	})
}

func TestServeRefusesBadProxyAndTimeoutSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--trusted-proxies", "10.0.0.0/8,not-an-ip"},
		{"--trusted-proxies", "10.0.0.0/33"},
		{"--read-timeout", "0s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stderr, done, _ := runInProcess(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...)...)
			select {
			case err := <-done:
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("got %v, want a usage error\n%s", err, stderr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal(fmt.Sprintf("serve did not refuse %v", args))
			}
		})
	}
	nets, err := parseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,::1")
	if err != nil || len(nets) != 3 || nets[1].String() != "192.0.2.7/32" || nets[2].String() != "::1/128" {
		t.Fatalf("parse: %v %v", nets, err)
	}
}
