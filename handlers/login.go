package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// loginFailed is the one message for every failed sign-in, so the form
// never tells whether a username exists.
const loginFailed = "Invalid username or password."

func (h *Handler) loginPage(c echo.Context, username, errMsg, next string) pages.LoginPage {
	lp := pages.LoginPage{CSRF: csrfToken(c), Username: username, Error: errMsg, Next: safeNext(next),
		CSS: h.assets.URL("app.css"), JS: h.assets.URL("app.js"), Icon: h.assets.URL("favicon.svg")}
	for _, f := range h.takeFlash(c) {
		lp.Notes = append(lp.Notes, f.Message)
	}
	return lp
}

// showLogin draws the sign-in form (or goes home when already signed in).
func (h *Handler) showLogin(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return h.renderComponent(c, http.StatusOK, pages.Login(h.loginPage(c, "", "", c.QueryParam("next"))))
}

// login checks the password and starts a session.
func (h *Handler) login(c echo.Context) error {
	ctx := c.Request().Context()
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	next := c.FormValue("next")
	if !h.limiter.allow(c.RealIP(), username, h.now()) {
		return h.renderComponent(c, http.StatusTooManyRequests,
			pages.Login(h.loginPage(c, username, "Too many sign-in attempts. Wait a minute and try again.", next)))
	}
	u, err := h.store.UserByName(ctx, username)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	// CheckPassword costs the same with or without a user.
	ok, err := h.passwords.do(ctx, func() bool { return auth.CheckPassword(hash, password) })
	if err != nil {
		return err
	}
	if !ok || u == nil || u.Disabled {
		return h.renderComponent(c, http.StatusUnauthorized, pages.Login(h.loginPage(c, username, loginFailed, next)))
	}
	if old, ok := c.Get(ctxSession).(*models.Session); ok {
		_ = h.store.DeleteSession(ctx, old.ID)
	}
	secret := auth.RandomSecret(32)
	now := h.now()
	ua := c.Request().UserAgent()
	if len(ua) > 255 {
		ua = ua[:255]
	}
	sess := &models.Session{ID: auth.HashSecret(secret), UserID: u.ID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(h.cfg.SessionTTL), UserAgent: ua, RemoteIP: c.RealIP()}
	if err := h.store.CreateSession(ctx, sess); err != nil {
		return err
	}
	if err := h.store.TouchUserLogin(ctx, u.ID); err != nil {
		h.log.Warn("record login", "err", err)
	}
	c.SetCookie(&http.Cookie{Name: h.cookieName(sessionCookie), Value: secret, Path: "/", HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(h.cfg.SessionTTL.Seconds())})
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

// logout ends the session.
func (h *Handler) logout(c echo.Context) error {
	if sess, ok := c.Get(ctxSession).(*models.Session); ok {
		if err := h.store.DeleteSession(c.Request().Context(), sess.ID); err != nil {
			return err
		}
	}
	h.clearSessionCookie(c)
	return h.redirectWith(c, "/login", "info", "You are signed out.")
}

// safeNext keeps post-login redirects on this site: it returns next as a
// path on this origin, or "/" when next could lead anywhere else. Browsers
// are lenient: they drop tabs and newlines inside URLs, read a backslash as
// a slash and treat "//host" as another host, so "/<tab>/host" or
// "/<backslash>host" leave the portal. Such input is refused outright
// rather than repaired.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if b := next[i]; b < 0x20 || b == 0x7f || b == '\\' {
			return "/"
		}
	}
	if strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	// The decoded path must not start a new authority either ("/%2F/host"
	// is harmless to browsers, but no page of ours is named like that).
	if strings.HasPrefix(u.Path, "//") || strings.IndexFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 {
		return "/"
	}
	// Rebuild from the parts so what is sent is exactly what was checked.
	out := &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, Fragment: u.Fragment, RawFragment: u.RawFragment}
	s := out.String()
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return "/"
	}
	return s
}
