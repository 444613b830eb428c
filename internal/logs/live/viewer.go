// Package live serves log streams over websockets: it replays a stream
// from a line, follows it live on a feed shared by every socket of the
// stream in this process, and ends with the stream's final status. It
// knows nothing of routes, sessions or pages: the HTTP layer checks who
// may read a stream, then hands the upgraded connection to a Viewer.
// The wire protocol is in docs/logs.md.
package live

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/logs"
)

// Config holds a socket's timings and batch size. They are fields (not
// constants) so tests can shorten them.
type Config struct {
	// Ping is how often the server pings; PongWait is how long it waits
	// for any frame (a pong at least) before dropping the client.
	Ping, PongWait time.Duration
	// WriteWait bounds one write; a client that accepts nothing for that
	// long is dropped (it resumes with ?from= when it comes back).
	WriteWait time.Duration
	// FlushEvery bounds how long a line waits to be sent; MaxLines is the
	// most lines in one frame.
	FlushEvery time.Duration
	MaxLines   int
	// StateEvery is how often the owner's status and steps are re-read.
	StateEvery time.Duration
	// EndGrace is how long after its owner finished a stream that was
	// never closed is taken as ended (its writer crashed).
	EndGrace time.Duration
}

// DefaultConfig returns the timings the portal runs with.
func DefaultConfig() Config {
	return Config{
		Ping:       20 * time.Second,
		PongWait:   45 * time.Second,
		WriteWait:  10 * time.Second,
		FlushEvery: 20 * time.Millisecond,
		MaxLines:   256,
		StateEvery: 5 * time.Second,
		EndGrace:   5 * time.Second,
	}
}

// Viewer is the shared state of a process's log sockets: their settings,
// the upgrader, and the rendered lines and frames shared between sockets.
type Viewer struct {
	// Config is read by every socket; change it only before the first.
	Config Config

	svc      *logs.Service
	upgrader websocket.Upgrader
	rendered *renderCache
	feeds    *feedHub
}

// NewViewer returns a viewer of svc's streams. svc may be nil in a
// process without logs; such a viewer can still upgrade connections (for
// other feeds) but must not Serve.
func NewViewer(svc *logs.Service) *Viewer {
	return &Viewer{
		Config: DefaultConfig(),
		svc:    svc,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   1024,
			WriteBufferSize:  16 << 10,
			// Idle sockets hold no write buffer.
			WriteBufferPool: &sync.Pool{},
		},
		rendered: newRenderCache(),
		feeds:    newFeedHub(),
	}
}

// Upgrade answers a websocket handshake whose Origin passes
// OriginAllowed (api says the request authenticated with a bearer token,
// not a cookie). On error the client has had its answer already.
func (v *Viewer) Upgrade(w http.ResponseWriter, r *http.Request, api bool) (*websocket.Conn, error) {
	up := v.upgrader
	// The caller should have refused a bad Origin with a clear message
	// already; this is the same check, never a function that returns true.
	up.CheckOrigin = func(r *http.Request) bool { return OriginAllowed(r, api) }
	return up.Upgrade(w, r, nil)
}

// OriginAllowed is the sockets' cross-site check. A browser always sends
// Origin on a websocket handshake, and the session cookie would ride along
// on one opened by any site, so a browser endpoint requires an Origin
// whose host is the host the request was sent to. API clients
// authenticate with a bearer token, which a browser never attaches by
// itself; they may omit Origin, but one they send must match too.
func OriginAllowed(r *http.Request, api bool) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return api
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
