// Package handlers holds the Echo routes (pages, htmx fragments, JSON API,
// websockets), the middleware that authenticates and authorizes them, and
// the one error handler.
package handlers

import (
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/logs/live"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

// Config holds the settings handlers need.
type Config struct {
	// SecureCookies marks cookies Secure (set when served over TLS).
	SecureCookies bool
	// SessionTTL is how long an idle session lives (default 7 days).
	SessionTTL time.Duration
	// Version is shown in the footer and /api/v1/version.
	Version string
	// PublicURL is the portal's external base URL (SLIPWAY_PUBLIC_URL),
	// used for absolute links such as webhook URLs; empty means derive it
	// from each request.
	PublicURL string
	// DemoDir is where "Create a demo project" writes the sample app's
	// repository (<data>/demo); empty turns the demo off.
	DemoDir string
	// CSRFKey signs the CSRF tokens bound to sessions; give every portal
	// process the same key (serve derives it from the secret key). Empty
	// means a random key per process: forms open across a restart must
	// then be reloaded.
	CSRFKey []byte
	// TrustedProxies are the peers whose X-Forwarded-For is believed (the
	// client address for login limits and sessions); empty means none: the
	// client is the TCP peer.
	TrustedProxies []*net.IPNet
	// HookReadTimeout is how long a forge webhook's body may take to
	// arrive, longer than the server's read timeout (default 2 minutes).
	HookReadTimeout time.Duration
}

// Deps are the handler's collaborators.
type Deps struct {
	Store    *models.Store
	Jobs     *jobs.Jobs
	Assets   *static.Assets
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Logs reads deploy (and build) logs.
	Logs *logs.Service
	// Deploy reports the state of environments' instances; nil when the
	// deploy engine runs in another process.
	Deploy deploy.Engine
	// Secrets seals secrets at rest (environment secrets, deploy keys,
	// webhook secrets); nil refuses secrets.
	Secrets jobs.SecretBox
	// Artifacts serves artifact downloads.
	Artifacts *artifact.Store
	// Delivery runs deploys, rollbacks and promotions and answers the
	// gate; nil means the one Jobs built.
	Delivery *delivery.Service
}

// Handler is the only way into the HTTP layer.
type Handler struct {
	store *models.Store
	jobs  *jobs.Jobs
	// delivery owns the delivery actions and the gate.
	delivery *delivery.Service
	logs     *logs.Service
	engine   deploy.Engine
	secrets  jobs.SecretBox
	assets   *static.Assets
	log      *slog.Logger
	cfg      Config
	limiter  *loginLimiter
	// passwords bounds concurrent bcrypt work.
	passwords passwordGate
	metrics   *httpMetrics
	arts      *artifact.Store
	// perms records the permission each route declared, by "METHOD path".
	perms map[string]auth.Permission
	now   func() time.Time
	// logv holds the log viewer's socket settings and shared rendering.
	logv *live.Viewer
	// refs caches what remotes advertise, for the project pages.
	refs *refCache
	// csrfKey signs CSRF tokens; crossOrigin refuses cross-origin unsafe
	// requests (csrf.go).
	csrfKey     []byte
	crossOrigin *http.CrossOriginProtection
	// pushes serializes webhook pushes of one commit to one ref.
	pushes *keyedLocks
}

// New builds the handler.
func New(d Deps, cfg Config) *Handler {
	if cfg.HookReadTimeout <= 0 {
		cfg.HookReadTimeout = 2 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	key := cfg.CSRFKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	cop, err := newCrossOriginProtection(cfg.PublicURL)
	if err != nil {
		d.Logger.Warn("public URL not usable as a trusted origin for forms", "err", err)
		cop = http.NewCrossOriginProtection()
	}
	if d.Delivery == nil && d.Jobs != nil {
		d.Delivery = d.Jobs.Delivery()
	}
	if d.Delivery == nil {
		// No job queue: the pages still answer the gate; deploys are
		// refused with an error.
		d.Delivery = delivery.New(delivery.Deps{Store: d.Store, Logger: d.Logger})
	}
	metrics := newHTTPMetrics(d.Registry)
	if d.Deploy != nil && d.Store != nil {
		metrics.addSignedIn(newInstanceCollector(d.Store, d.Deploy, d.Logger))
	}
	return &Handler{
		delivery:    d.Delivery,
		csrfKey:     key,
		crossOrigin: cop,
		store:       d.Store,
		jobs:        d.Jobs,
		logs:        d.Logs,
		engine:      d.Deploy,
		secrets:     d.Secrets,
		assets:      d.Assets,
		log:         d.Logger,
		cfg:         cfg,
		limiter:     newLoginLimiter(),
		passwords:   newPasswordGate(),
		metrics:     metrics,
		arts:        d.Artifacts,
		perms:       map[string]auth.Permission{},
		now:         func() time.Time { return time.Now().UTC() },
		logv:        live.NewViewer(d.Logs),
		pushes:      newKeyedLocks(),
		refs:        newRefCache(),
	}
}

// Permission returns the permission a registered route declared.
func (h *Handler) Permission(method, path string) (auth.Permission, bool) {
	p, ok := h.perms[method+" "+path]
	return p, ok
}

// routeAdder is an Echo group or the Echo instance itself.
type routeAdder interface {
	Add(method, path string, handler echo.HandlerFunc, middleware ...echo.MiddlewareFunc) *echo.Route
}

// add registers a route together with the permission it needs; it is the
// only way routes are registered, so none can forget its check.
func (h *Handler) add(r routeAdder, method, path string, perm auth.Permission, fn echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	if !auth.Known(perm) {
		panic("handlers: route " + method + " " + path + " declares unknown permission " + string(perm))
	}
	mw = append([]echo.MiddlewareFunc{h.require(perm)}, mw...)
	rt := r.Add(method, path, fn, mw...)
	key := rt.Method + " " + rt.Path
	if _, dup := h.perms[key]; dup {
		panic("handlers: route " + key + " registered twice")
	}
	h.perms[key] = perm
}
