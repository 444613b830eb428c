package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

const (
	sessionCookie = "slipway_session"
	csrfCookie    = "slipway_csrf"
	ctxUser       = "slipway.user"
	ctxSession    = "slipway.session"
	ctxCSRF       = "csrf"
)

// isAPI reports whether the request is for the JSON API.
func isAPI(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/api/")
}

// currentUser returns the authenticated user, or nil.
func currentUser(c echo.Context) *models.User {
	u, _ := c.Get(ctxUser).(*models.User)
	return u
}

// roleOf returns the user's role, or "" when anonymous.
func roleOf(u *models.User) auth.Role {
	if u == nil {
		return ""
	}
	return auth.Role(u.Role)
}

// authenticate loads the user: from a bearer token on /api/, from the
// session cookie elsewhere; /metrics takes either (a scraper sends a
// token). Disabled users are treated as anonymous.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		tok, bearer := bearerToken(c.Request())
		if isAPI(c) || (bearer && c.Request().URL.Path == "/metrics") {
			if bearer {
				t, err := h.store.APITokenByHash(ctx, auth.HashSecret(tok))
				switch {
				case err == nil && !t.User.Disabled:
					u := t.User
					c.Set(ctxUser, &u)
					if err := h.store.TouchAPIToken(ctx, t.ID, h.now()); err != nil {
						h.log.Warn("touch api token", "err", err)
					}
				case err != nil && !errors.Is(err, models.ErrNotFound):
					return err
				}
			}
			return next(c)
		}
		ck, err := c.Cookie(h.cookieName(sessionCookie))
		if err != nil || ck.Value == "" {
			return next(c)
		}
		now := h.now()
		sess, err := h.store.SessionByID(ctx, auth.HashSecret(ck.Value), now)
		switch {
		case errors.Is(err, models.ErrNotFound):
			h.clearSessionCookie(c)
			return next(c)
		case err != nil:
			return err
		}
		if sess.User.Disabled {
			return next(c)
		}
		// Slide the expiry at most once a minute to keep writes rare.
		if now.Sub(sess.LastSeenAt) > time.Minute {
			if err := h.store.TouchSession(ctx, sess.ID, now, now.Add(h.cfg.SessionTTL)); err != nil {
				h.log.Warn("touch session", "err", err)
			}
		}
		u := sess.User
		c.Set(ctxUser, &u)
		c.Set(ctxSession, sess)
		return next(c)
	}
}

func bearerToken(r *http.Request) (string, bool) {
	v := r.Header.Get(echo.HeaderAuthorization)
	const p = "Bearer "
	if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
		return strings.TrimSpace(v[len(p):]), true
	}
	return "", false
}

// require checks the permission a route declared.
func (h *Handler) require(perm auth.Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := currentUser(c)
			if auth.Can(roleOf(u), perm) {
				return next(c)
			}
			if u == nil {
				if isAPI(c) {
					return echo.NewHTTPError(http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>")
				}
				if c.Request().Method == http.MethodGet {
					next := c.Request().URL.RequestURI()
					return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
				}
				return echo.NewHTTPError(http.StatusUnauthorized, "sign in first")
			}
			return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("your role (%s) does not allow this", u.Role))
		}
	}
}

// ipExtractor says who the client is (c.RealIP()). Without trusted
// proxies it is the TCP peer, whatever X-Forwarded-For or X-Real-IP say:
// anyone can send those. With them, X-Forwarded-For is read from the right,
// skipping only trusted proxies; loopback and private ranges are not
// trusted unless listed.
func (h *Handler) ipExtractor() echo.IPExtractor {
	if len(h.cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range h.cfg.TrustedProxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// readDeadline gives a route's request body d from when the route starts
// to arrive, instead of the server's read timeout: for routes that take
// large bodies. The deadline is still a deadline: a client that trickles
// is cut off when it passes.
func (h *Handler) readDeadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return next(c)
		}
	}
}

// securityHeaders sets headers every response carries.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		return next(c)
	}
}

// recoverPanics turns a panic into a 500 with the stack in the log.
func (h *Handler) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		return next(c)
	}
}

func (h *Handler) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: h.cookieName(sessionCookie), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

func csrfToken(c echo.Context) string {
	s, _ := c.Get(ctxCSRF).(string)
	return s
}
