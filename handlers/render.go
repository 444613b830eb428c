package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/views/layout"
)

const flashCookie = "slipway_flash"

// pageFor builds the frame's data for the current request.
func (h *Handler) pageFor(c echo.Context, title, nav string) layout.Page {
	p := layout.Page{
		Title:  title,
		Nav:    nav,
		CSRF:   csrfToken(c),
		Assets: layout.Assets{CSS: h.assets.URL("app.css"), JS: h.assets.URL("app.js"), Icon: h.assets.URL("favicon.svg")},
		Flash:  h.takeFlash(c),
		Now:    h.now(),
	}
	if u := currentUser(c); u != nil {
		p.User = &layout.User{Name: u.Username, Role: u.Role}
		p.PendingApprovals = h.pendingApprovals(c)
	}
	return p
}

// render draws a page inside the layout with status 200.
func (h *Handler) render(c echo.Context, title, nav string, body templ.Component) error {
	return h.renderStatus(c, http.StatusOK, title, nav, body)
}

// renderStatus renders into a buffer first so a failing component still
// becomes a clean error page instead of half a document.
func (h *Handler) renderStatus(c echo.Context, status int, title, nav string, body templ.Component) error {
	return h.renderComponent(c, status, layout.Base(h.pageFor(c, title, nav), body))
}

// renderComponent renders a whole component (a fragment or a document).
func (h *Handler) renderComponent(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// flash queues a message for the next page.
func (h *Handler) flash(c echo.Context, kind, msg string) {
	fl := []layout.Flash{{Kind: kind, Message: msg}}
	if ck, err := c.Cookie(flashCookie); err == nil {
		if old := decodeFlash(ck.Value); len(old) < 3 {
			fl = append(old, fl...)
		}
	}
	raw, _ := json.Marshal(fl)
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(raw), Path: "/",
		HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, Expires: time.Now().Add(time.Minute)})
}

// takeFlash reads and clears pending messages.
func (h *Handler) takeFlash(c echo.Context) []layout.Flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	return decodeFlash(ck.Value)
}

func decodeFlash(v string) []layout.Flash {
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var fl []layout.Flash
	if json.Unmarshal(raw, &fl) != nil {
		return nil
	}
	out := fl[:0]
	for _, f := range fl {
		if (f.Kind == "success" || f.Kind == "error" || f.Kind == "info") && len(f.Message) <= 500 {
			out = append(out, f)
		}
	}
	return out
}

// redirectWith redirects after a form with a flash message.
func (h *Handler) redirectWith(c echo.Context, to, kind, msg string) error {
	h.flash(c, kind, msg)
	return c.Redirect(http.StatusSeeOther, to)
}

// bindJSON decodes a JSON body strictly into v, answering 400 with a
// message that names the problem.
func bindJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // body limit (413)
		}
		return badRequest("invalid JSON body: " + jsonErrorText(err))
	}
	if dec.More() {
		return badRequest("invalid JSON body: unexpected data after the object")
	}
	return nil
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends too early"
	}
	return err.Error()
}
