package deploy

import (
	"net/http"
	"strings"
)

// Apps are served on other ports of the portal's host, and browsers do not
// keep cookies apart by port: a browser sends the portal's session cookie to
// every app it opens, and takes cookies an app sets as the portal's own. The
// edge therefore never lets a portal cookie cross it in either direction —
// an app must not read a signed-in user's session, nor plant one.

// isPortalCookie reports whether name is one of the portal's cookies
// (slipway_session, slipway_csrf and their __Host- forms when secure).
func isPortalCookie(name string) bool {
	name = strings.TrimPrefix(name, "__Host-")
	name = strings.TrimPrefix(name, "__Secure-")
	return strings.HasPrefix(strings.ToLower(name), "slipway_")
}

// stripPortalCookies removes the portal's cookies from a request's Cookie
// headers, keeping the app's own.
func stripPortalCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if !isPortalCookie(strings.TrimSpace(name)) {
				kept = append(kept, part)
			}
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

// dropPortalSetCookies removes Set-Cookie headers of an app's response that
// would set one of the portal's cookies.
func dropPortalSetCookies(h http.Header) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		if !isPortalCookie(strings.TrimSpace(name)) {
			h.Add("Set-Cookie", line)
		}
	}
}
