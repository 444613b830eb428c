package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
)

func TestUnsafeMethodsNeedTheCSRFToken(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user("dev", auth.Developer)
	sess := ts.session(u)
	resp, body := ts.do(http.MethodPost, "/profile/tokens", reqOpts{session: sess, form: url.Values{"name": {"x"}}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
		t.Fatalf("POST without CSRF token: got %d, want 403 with a message", resp.StatusCode)
	}
	resp, _ = ts.do(http.MethodPost, "/profile/tokens", reqOpts{session: sess, csrf: true, form: url.Values{"name": {"x"}}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST with CSRF token: got %d, want 303", resp.StatusCode)
	}
	resp, _ = ts.do(http.MethodPost, "/logout", reqOpts{session: sess, form: url.Values{}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: got %d, want 403", resp.StatusCode)
	}
}

func TestLoginGivesOneGenericMessageAndIsRateLimited(t *testing.T) {
	ts := newTestServer(t)
	ts.user("alice", auth.Developer)
	c := ts.browser()
	post := func(user, pass string) (int, string) {
		tok := formToken(t, c, ts.srv.URL+"/login")
		resp, err := c.PostForm(ts.srv.URL+"/login", url.Values{"username": {user}, "password": {pass}, "_csrf": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io_copy(&b, resp)
		return resp.StatusCode, b.String()
	}
	s1, b1 := post("alice", "wrong-password")
	s2, b2 := post("nobody", "wrong-password")
	if s1 != http.StatusUnauthorized || s2 != http.StatusUnauthorized {
		t.Fatalf("failed logins: got %d and %d, want 401", s1, s2)
	}
	if !strings.Contains(b1, loginFailed) || !strings.Contains(b2, loginFailed) {
		t.Fatal("failed logins must show the generic message")
	}
	if strings.Contains(b2, "not exist") || strings.Contains(b1, "wrong password") {
		t.Fatal("the message must not tell whether the user exists")
	}
	var last int
	for i := 0; i < 12; i++ {
		last, _ = post("alice", "wrong-password")
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after many failures: got %d, want 429", last)
	}
	// Even the right password is refused while limited.
	if s, _ := post("alice", "password-alice"); s != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: got %d, want 429", s)
	}
}

func TestLoginStartsASessionAndLogoutEndsIt(t *testing.T) {
	ts := newTestServer(t)
	ts.user("bob", auth.QA)
	c := ts.browser()
	tok := formToken(t, c, ts.srv.URL+"/login")
	resp, err := c.PostForm(ts.srv.URL+"/login", url.Values{"username": {"bob"}, "password": {"password-bob"}, "_csrf": {tok}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q (an off-site next must become /)", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && (!ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode) {
			t.Fatal("session cookie must be HttpOnly and SameSite=Lax")
		}
	}
	resp, err = c.Get(ts.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard after login: %d", resp.StatusCode)
	}
	tok = formToken(t, c, ts.srv.URL+"/")
	resp, err = c.PostForm(ts.srv.URL+"/logout", url.Values{"_csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, _ = c.Get(ts.srv.URL + "/")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dashboard after logout: %d, want a redirect to /login", resp.StatusCode)
	}
}

func TestRevokedTokenStopsWorking(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user("carol", auth.Lead)
	tok, id := ts.token(u)
	resp, body := ts.do(http.MethodGet, "/api/v1/me", reqOpts{token: tok})
	var me meResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &me) != nil || me.Username != "carol" || me.Role != "lead" {
		t.Fatalf("me: %d %s", resp.StatusCode, body)
	}
	sess := ts.session(u)
	resp, _ = ts.do(http.MethodPost, "/profile/tokens/"+itoa(id)+"/revoke", reqOpts{session: sess, csrf: true, form: url.Values{}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	resp, body = ts.do(http.MethodGet, "/api/v1/me", reqOpts{token: tok})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
		t.Fatalf("revoked token: %d %s, want 401 with a JSON error", resp.StatusCode, body)
	}
}

func TestDisabledUserIsLockedOut(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.user("root", auth.Admin)
	u := ts.user("dave", auth.Developer)
	sess := ts.session(u)
	tok, _ := ts.token(u)
	resp, _ := ts.do(http.MethodPost, "/admin/users/"+itoa(u.ID)+"/disabled", reqOpts{session: ts.session(admin), csrf: true, form: url.Values{"disabled": {"true"}}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if resp, _ := ts.do(http.MethodGet, "/", reqOpts{session: sess}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled user's session still works: %d", resp.StatusCode)
	}
	if resp, _ := ts.do(http.MethodGet, "/api/v1/me", reqOpts{token: tok}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("disabled user's token still works: %d", resp.StatusCode)
	}
	c := ts.browser()
	ctok := formToken(t, c, ts.srv.URL+"/login")
	resp, err := c.PostForm(ts.srv.URL+"/login", url.Values{"username": {"dave"}, "password": {"password-dave"}, "_csrf": {ctok}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_, _ = io_copy(&b, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b.String(), loginFailed) {
		t.Fatalf("disabled user login: %d", resp.StatusCode)
	}
	// The last admin cannot be disabled or demoted.
	resp, _ = ts.do(http.MethodPost, "/admin/users/"+itoa(admin.ID)+"/role", reqOpts{session: ts.session(admin), csrf: true, form: url.Values{"role": {"qa"}}})
	if u, _ := ts.store.User(t.Context(), admin.ID); u.Role != "admin" {
		t.Fatal("the last admin was demoted")
	}
}

func TestBadJSONAndOversizedBodies(t *testing.T) {
	ts := newTestServer(t)
	tok, _ := ts.token(ts.user("ops", auth.Admin))
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"truncated JSON is a 400 naming the problem", `{"username":`, 400, "invalid JSON body"},
		{"an unknown field is a 400 naming it", `{"username":"x","role":"qa","colour":"red"}`, 400, "colour"},
		{"a wrong type is a 400 naming the field", `{"username":1}`, 400, "username"},
		{"an empty body is a 400", ``, 400, "empty"},
		{"a bad role is a 422 naming it", `{"username":"eve","role":"root"}`, 422, "root"},
		{"a good request creates the user", `{"username":"eve","role":"qa"}`, 201, `"password"`},
		{"a duplicate is a 409", `{"username":"eve","role":"qa"}`, 409, "already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, "/api/v1/users", reqOpts{token: tok, body: c.body, ctype: "application/json"})
			if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, c.status, c.want)
			}
		})
	}
	big := `{"username":"` + strings.Repeat("a", 2<<20) + `"}`
	resp, body := ts.do(http.MethodPost, "/api/v1/users", reqOpts{token: tok, body: big, ctype: "application/json"})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Fatalf("2 MiB body: got %d %s, want 413", resp.StatusCode, body)
	}
}

func TestUnknownRoutesAnswer404(t *testing.T) {
	ts := newTestServer(t)
	sess := ts.session(ts.user("fay", auth.Viewer))
	resp, body := ts.do(http.MethodGet, "/no/such/page", reqOpts{session: sess})
	if resp.StatusCode != 404 || !strings.Contains(body, "Page not found") || !strings.Contains(body, "Sign out") {
		t.Fatalf("unknown page: %d; want the 404 page inside the layout", resp.StatusCode)
	}
	resp, body = ts.do(http.MethodGet, "/api/v1/nothing", reqOpts{})
	if resp.StatusCode != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown API route: %d %s; want a JSON 404", resp.StatusCode, body)
	}
}

func TestHealthzMetricsAndAssets(t *testing.T) {
	ts := newTestServer(t)
	if resp, body := ts.do(http.MethodGet, "/healthz", reqOpts{}); resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	ts.do(http.MethodGet, "/login", reqOpts{})
	resp, body := ts.do(http.MethodGet, "/metrics", reqOpts{})
	if resp.StatusCode != 200 || !strings.Contains(body, `slipway_http_requests_total{method="GET",route="/login",status="200"}`) ||
		!strings.Contains(body, "go_goroutines") || !strings.Contains(body, "slipway_http_request_duration_seconds_bucket") {
		t.Fatalf("metrics lack request counts by route or Go runtime figures")
	}
	css := ts.h.assets.URL("app.css")
	resp, body = ts.do(http.MethodGet, css, reqOpts{})
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || len(body) < 1000 {
		t.Fatalf("asset %s: %d %q", css, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if resp, _ := ts.do(http.MethodGet, "/static/manifest.json", reqOpts{}); resp.StatusCode != 404 {
		t.Fatalf("manifest must not be served: %d", resp.StatusCode)
	}
	ts.store.Close()
	if resp, _ := ts.do(http.MethodGet, "/healthz", reqOpts{}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the database closed: %d, want 503", resp.StatusCode)
	}
}

func TestUserAdministration(t *testing.T) {
	ts := newTestServer(t)
	sess := ts.session(ts.user("admin", auth.Admin))
	resp, body := ts.do(http.MethodPost, "/admin/users", reqOpts{session: sess, csrf: true, form: url.Values{"username": {"<script>x"}, "role": {"qa"}}})
	if resp.StatusCode != 422 || strings.Contains(body, "<script>x") || !strings.Contains(body, "&lt;script&gt;x") {
		t.Fatalf("bad username must be refused and echoed escaped: %d", resp.StatusCode)
	}
	resp, body = ts.do(http.MethodPost, "/admin/users", reqOpts{session: sess, csrf: true, form: url.Values{"username": {"gina"}, "role": {"lead"}}})
	if resp.StatusCode != 201 || !strings.Contains(body, `data-testid="new-password"`) {
		t.Fatalf("create without password must show a generated one: %d", resp.StatusCode)
	}
	g, err := ts.store.UserByName(t.Context(), "gina")
	if err != nil || g.Role != "lead" {
		t.Fatalf("gina: %v %+v", err, g)
	}
	ts.do(http.MethodPost, "/admin/users/"+itoa(g.ID)+"/role", reqOpts{session: sess, csrf: true, form: url.Values{"role": {"viewer"}}})
	if g, _ = ts.store.UserByName(t.Context(), "gina"); g.Role != "viewer" {
		t.Fatalf("role change did not stick: %s", g.Role)
	}
}

func TestNewTokenIsShownOnceAfterARedirect(t *testing.T) {
	ts := newTestServer(t)
	ts.user("hal", auth.QA)
	c := ts.browser()
	tok := formToken(t, c, ts.srv.URL+"/login")
	resp, err := c.PostForm(ts.srv.URL+"/login", url.Values{"username": {"hal"}, "password": {"password-hal"}, "_csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok = formToken(t, c, ts.srv.URL+"/profile")
	resp, err = c.PostForm(ts.srv.URL+"/profile/tokens", url.Values{"name": {"ci"}, "_csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/profile" {
		t.Fatalf("create token: %d to %q, want a redirect to /profile", resp.StatusCode, resp.Header.Get("Location"))
	}
	get := func() string {
		resp, err := c.Get(ts.srv.URL + "/profile")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io_copy(&b, resp)
		return b.String()
	}
	first := get()
	i := strings.Index(first, auth.TokenPrefix)
	if i < 0 || !strings.Contains(first, `data-testid="new-token"`) {
		t.Fatal("the new token is not shown after the redirect")
	}
	token := first[i : i+strings.IndexAny(first[i:], "<\"")]
	if resp, body := ts.do(http.MethodGet, "/api/v1/me", reqOpts{token: token}); resp.StatusCode != 200 || !strings.Contains(body, "hal") {
		t.Fatalf("the shown token does not work: %d %s", resp.StatusCode, body)
	}
	if again := get(); strings.Contains(again, token) || strings.Contains(again, `data-testid="new-token"`) {
		t.Fatal("reloading the profile shows the token again")
	}
}
