package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// CSRF protection has two layers, both needed because deployed apps are
// served on other ports of the portal's own host: the same site, so the
// browser sends them the portal's cookies and lets them set cookies the
// portal then receives.
//
//  1. The token a form or htmx request sends back is bound to the
//     server-side session: an HMAC of the session's stored ID under a
//     server key. No cookie an app can write changes what the portal
//     expects, and the token cannot be computed without the key. Before
//     sign-in (the login form) the token is bound to a random pre-session
//     cookie the same way.
//  2. Browsers' own word on where a request came from (Sec-Fetch-Site, or
//     Origin against Host) refuses cross-origin unsafe requests, which also
//     covers the pre-session case where an app could plant a cookie it
//     fetched a valid token for (login CSRF).

// csrfExempt lists the paths that never take a browser session: the API
// (bearer tokens only), forge webhooks (signatures), assets and probes.
func csrfExempt(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/hooks/") || strings.HasPrefix(p, "/static/") || p == "/healthz" || p == "/metrics"
}

// cookieName prefixes a cookie name with __Host- when cookies are Secure:
// the browser then refuses it unless it was set Secure, for Path=/ and
// without a Domain, by a secure origin on this exact host.
func (h *Handler) cookieName(name string) string {
	if h.cfg.SecureCookies {
		return "__Host-" + name
	}
	return name
}

// csrfMAC is the token for one binding ("session" or "anon" plus its ID).
func (h *Handler) csrfMAC(kind, id string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte("slipway csrf\x00" + kind + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfForSession is the token of a signed-in session (by its stored ID).
func (h *Handler) csrfForSession(sessionID string) string { return h.csrfMAC("session", sessionID) }

// expectedCSRF returns the token this request must carry, issuing a
// pre-session cookie for a visitor who is not signed in and has none.
func (h *Handler) expectedCSRF(c echo.Context) string {
	if sess, ok := c.Get(ctxSession).(*models.Session); ok {
		return h.csrfForSession(sess.ID)
	}
	name := h.cookieName(csrfCookie)
	if ck, err := c.Cookie(name); err == nil && len(ck.Value) == 43 {
		return h.csrfMAC("anon", ck.Value)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	c.SetCookie(&http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: h.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: 7 * 24 * 3600})
	return h.csrfMAC("anon", v)
}

// newCrossOriginProtection trusts the portal's own origin and, when set,
// the public URL's (a proxy may rewrite Host).
func newCrossOriginProtection(publicURL string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil {
			return nil, err
		}
		if err := p.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// csrf protects every unsafe method of the browser UI.
func (h *Handler) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if csrfExempt(r.URL.Path) {
			return next(c)
		}
		want := h.expectedCSRF(c)
		c.Set(ctxCSRF, want)
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if err := h.crossOrigin.Check(r); err != nil {
			return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused: forms must be sent from the portal's own pages").WithInternal(err)
		}
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("_csrf")
		}
		// hmac.Equal compares in constant time.
		if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
			return echo.NewHTTPError(http.StatusForbidden, "the form's security token is missing or expired — reload the page and try again")
		}
		return next(c)
	}
}
