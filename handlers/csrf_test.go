package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
)

// post sends a form with the given cookies and headers, no redirects.
func (ts *testServer) post(path string, form url.Values, cookies []*http.Cookie, hdr map[string]string) int {
	ts.t.Helper()
	return ts.postResp(path, form, cookies, hdr).StatusCode
}

// postResp is post returning the response (its body closed).
func (ts *testServer) postResp(path string, form url.Values, cookies []*http.Cookie, hdr map[string]string) *http.Response {
	ts.t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// An app on another port of the portal's host is the same site: it can set
// a cookie named like the portal's CSRF cookie and post a form to the
// portal, which the browser sends with the admin's session cookie. A token
// the app chose (or the app owner's own valid token) must not pass.
func TestForgedCSRFCookieAndFormPairIsRefused(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.user("root", auth.Admin)
	dev := ts.user("mallory", auth.Developer)
	adminSess := ts.session(admin)
	devSess := ts.session(dev)
	promote := "/admin/users/" + itoa(dev.ID) + "/role"
	roleOf := func() string {
		u, err := ts.store.User(t.Context(), dev.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.Role
	}
	sessCk := &http.Cookie{Name: sessionCookie, Value: adminSess}
	cases := []struct {
		name    string
		cookies []*http.Cookie
		token   string
		hdr     map[string]string
	}{
		{"a token the app chose, planted as the CSRF cookie", []*http.Cookie{sessCk, {Name: csrfCookie, Value: "forged"}}, "forged", nil},
		{"a long token the app chose, planted as the CSRF cookie", []*http.Cookie{sessCk, {Name: csrfCookie, Value: strings.Repeat("A", 43)}}, strings.Repeat("A", 43), nil},
		{"the app owner's own valid session token", []*http.Cookie{sessCk}, ts.csrfFor(devSess), nil},
		{"a valid pre-session token planted with its cookie", []*http.Cookie{sessCk, {Name: csrfCookie, Value: testAnonCSRF}}, ts.csrfFor(""), nil},
		{"no token", []*http.Cookie{sessCk}, "", nil},
		{"the admin's right token sent from another origin", []*http.Cookie{sessCk}, ts.csrfFor(adminSess), map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"the admin's right token with a foreign Origin", []*http.Cookie{sessCk}, ts.csrfFor(adminSess), map[string]string{"Origin": "http://127.0.0.1:1"}},
	}
	for _, c := range cases {
		t.Run("refuses "+c.name, func(t *testing.T) {
			status := ts.post(promote, url.Values{"role": {"admin"}, "_csrf": {c.token}}, c.cookies, c.hdr)
			if status != http.StatusForbidden || roleOf() != string(auth.Developer) {
				t.Fatalf("got %d and role %s, want 403 and developer", status, roleOf())
			}
		})
	}
	t.Run("accepts the token bound to the admin's session", func(t *testing.T) {
		status := ts.post(promote, url.Values{"role": {"lead"}, "_csrf": {ts.csrfFor(adminSess)}}, []*http.Cookie{sessCk},
			map[string]string{"Sec-Fetch-Site": "same-origin"})
		if status != http.StatusSeeOther || roleOf() != string(auth.Lead) {
			t.Fatalf("got %d and role %s, want 303 and lead", status, roleOf())
		}
	})
}

func TestSecureCookiesUseHostPrefixedNames(t *testing.T) {
	ts := newTestServer(t)
	ts.h.cfg.SecureCookies = true
	ts.user("ivy", auth.Viewer)
	c := ts.browser()
	resp, err := c.Get(ts.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var pre *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-"+csrfCookie {
			pre = ck
		}
	}
	if pre == nil || !pre.Secure || pre.Path != "/" || pre.Domain != "" || !pre.HttpOnly {
		t.Fatalf("pre-session cookie %+v: want __Host-%s, Secure, HttpOnly, Path=/ and no Domain", pre, csrfCookie)
	}
	// The test client speaks plain HTTP, so it sends the Secure cookie by hand.
	form := url.Values{"username": {"ivy"}, "password": {"password-ivy"}, "_csrf": {ts.h.csrfMAC("anon", pre.Value)}}
	req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: pre.Name, Value: pre.Value})
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-"+sessionCookie {
			sess = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || sess == nil || !sess.Secure || sess.Path != "/" || sess.Domain != "" {
		t.Fatalf("login: %d, session cookie %+v: want __Host-%s, Secure, Path=/", resp.StatusCode, sess, sessionCookie)
	}
	// The portal reads only the prefixed name back.
	if st, _ := ts.do(http.MethodGet, "/", reqOpts{session: sess.Value}); st.StatusCode != http.StatusSeeOther {
		t.Fatalf("unprefixed session cookie accepted with secure cookies: %d", st.StatusCode)
	}
}
