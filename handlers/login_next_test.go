package handlers

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
)

// nextCases are post-login targets: where they must lead ("/" when the
// input could leave the portal).
var nextCases = []struct{ name, next, want string }{
	{"a page of the portal is kept", "/builds/7", "/builds/7"},
	{"a query and fragment are kept", "/builds?status=failed&p=2#top", "/builds?status=failed&p=2#top"},
	{"an encoded slash inside the path is kept as a path", "/a%2Fb", "/a%2Fb"},
	{"empty goes home", "", "/"},
	{"a scheme-relative URL goes home", "//evil.example/", "/"},
	{"a tab between the slashes goes home", "/\t/evil.example", "/"},
	{"a newline between the slashes goes home", "/\n/evil.example", "/"},
	{"a carriage return goes home", "/\r/evil.example", "/"},
	{"a NUL goes home", "/\x00/evil.example", "/"},
	{"DEL goes home", "/\x7f/evil.example", "/"},
	{"a backslash after the slash goes home", "/\\evil.example", "/"},
	{"backslashes alone go home", "\\\\evil.example", "/"},
	{"an encoded double slash goes home", "%2F%2Fevil.example", "/"},
	{"a decoded double slash goes home", "/%2F/evil.example", "/"},
	{"an encoded backslash goes home", "/%5Cevil.example", "/"},
	{"an encoded tab goes home", "/%09/evil.example", "/"},
	{"an absolute URL goes home", "https://evil.example/", "/"},
	{"a scheme without slashes goes home", "https:evil.example", "/"},
	{"javascript goes home", "javascript:alert(1)", "/"},
	{"a relative path goes home", "evil.example", "/"},
	{"user info goes home", "//user@evil.example", "/"},
	{"three slashes go home", "///evil.example", "/"},
	{"a very long target goes home", "/" + string(make([]byte, 3000)), "/"},
}

func TestSafeNextKeepsRedirectsOnThePortal(t *testing.T) {
	for _, c := range nextCases {
		t.Run(c.name, func(t *testing.T) {
			if got := safeNext(c.next); got != c.want {
				t.Fatalf("safeNext(%q) = %q, want %q", c.next, got, c.want)
			}
		})
	}
}

// The same cases through the real routes: a signed-in visit to /login and
// a sign-in both redirect only within the portal.
func TestLoginRedirectsOnlyWithinThePortal(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user("nina", auth.Viewer)
	sess := ts.session(u)
	for _, c := range nextCases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := ts.do(http.MethodGet, "/login?next="+url.QueryEscape(c.next), reqOpts{session: sess})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != c.want {
				t.Fatalf("GET /login?next=%q: %d to %q, want %q", c.next, resp.StatusCode, resp.Header.Get("Location"), c.want)
			}
		})
	}
	// A sign-in with the most common trick from the report.
	resp, _ := ts.do(http.MethodPost, "/login", reqOpts{csrf: true, form: url.Values{"username": {"nina"}, "password": {"password-nina"}, "next": {"/\t/evil.example"}}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign-in with next=/<tab>/evil.example: %d to %q, want /", resp.StatusCode, resp.Header.Get("Location"))
	}
}
