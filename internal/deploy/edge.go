package deploy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// envState is one environment: its edge listener, the live pool of
// instances the edge balances over, the warm instances kept for rollback, and every instance
// started for it.
type envState struct {
	name string
	m    *Manager
	// live is read on every request without a lock; Switch, Rollout,
	// SwitchWarm and Scale store it.
	live atomic.Pointer[pool]
	rr   atomic.Uint64 // where the next pick starts

	// op serializes Rollout, SwitchWarm and Scale of the environment.
	op sync.Mutex

	// Guarded by Manager.mu.
	srv       *http.Server
	addr      string
	warm      []*Instance // oldest first
	instances map[*Instance]struct{}
	sets      map[int64]*releaseSet
	desired   int

	// pooled is desired > 1, read on every output line without a lock:
	// then even slot 1 labels its lines (see Instance.label).
	pooled atomic.Bool
}

// setDesired records the pool size the last Rollout, SwitchWarm, Scale or
// adoption asked for. The caller holds Manager.mu.
func (e *envState) setDesired(n int) {
	e.desired = n
	e.pooled.Store(n > 1)
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
