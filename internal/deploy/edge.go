package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// envState is one environment: its edge listener, the live instance the
// edge proxies to, the warm instances kept for rollback, and every instance
// started for it.
type envState struct {
	name string
	m    *Manager
	// live is read on every request without a lock; Switch stores it.
	live atomic.Pointer[Instance]

	// Guarded by Manager.mu.
	srv       *http.Server
	addr      string
	warm      []*Instance // oldest first
	instances map[*Instance]struct{}
}

// ServeHTTP proxies one request to the live instance.
//
// The in-flight count is what makes draining safe: a request counts against
// the instance it is sent to before it is sent. After counting, the live
// pointer is read again; if a Switch happened in between, the request is
// uncounted and retried against the new instance. So once Switch has stored
// the new pointer, a drainer that sees a count of zero on the old instance
// knows no request can still reach it.
func (e *envState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for {
		inst := e.live.Load()
		if inst == nil {
			writePlain(w, http.StatusBadGateway, fmt.Sprintf(
				"502 Bad Gateway\n\nNo release is live in environment %s.\n", e.name))
			return
		}
		inst.inflight.Add(1)
		if e.live.Load() != inst {
			inst.inflight.Add(-1)
			continue
		}
		func() {
			defer inst.inflight.Add(-1)
			inst.proxy.ServeHTTP(w, r)
		}()
		return
	}
}

// newServer returns the edge's HTTP server. There is no read or write
// timeout because uploads, streams and websockets may legitimately last.
func (e *envState) newServer() *http.Server {
	return &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(e.m.log.Handler(), slog.LevelDebug),
	}
}

// removeWarm takes inst out of the warm list, if it is there. The caller
// holds Manager.mu.
func (e *envState) removeWarm(inst *Instance) bool {
	i := slices.Index(e.warm, inst)
	if i < 0 {
		return false
	}
	e.warm = slices.Delete(e.warm, i, i+1)
	if inst.warmTimer != nil {
		inst.warmTimer.Stop()
		inst.warmTimer = nil
	}
	inst.warmUntil = time.Time{}
	return true
}

// shutdownServer stops srv gracefully within ctx, then closes what is left.
func shutdownServer(ctx context.Context, srv *http.Server) {
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// sameAddr reports whether two host:port addresses name the same socket.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := net.ResolveTCPAddr("tcp", a)
	tb, err2 := net.ResolveTCPAddr("tcp", b)
	return err1 == nil && err2 == nil && ta.Port == tb.Port && ta.IP.Equal(tb.IP)
}

// anyPort reports whether addr asks for any free port.
func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && (port == "0" || port == "")
}

func writePlain(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
