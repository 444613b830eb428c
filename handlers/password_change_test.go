package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// signedIn reports whether a session cookie still opens the profile.
func (ts *testServer) signedIn(session string) bool {
	ts.t.Helper()
	resp, _ := ts.do(http.MethodGet, "/profile", reqOpts{session: session})
	return resp.StatusCode == http.StatusOK
}

// passwordIs reports whether name's stored password is pw.
func (ts *testServer) passwordIs(name, pw string) bool {
	ts.t.Helper()
	u, err := ts.store.UserByName(context.Background(), name)
	if err != nil {
		ts.t.Fatal(err)
	}
	return auth.CheckPassword(u.PasswordHash, pw)
}

func (ts *testServer) passwordEvents() []models.AuditEvent {
	var out []models.AuditEvent
	for _, e := range ts.events() {
		if e.Action == models.AuditUserPassword {
			out = append(out, e)
		}
	}
	return out
}

// passwordEventsOf returns the user.password events by actor name.
func (ts *testServer) passwordEventsOf(name string) []models.AuditEvent {
	var out []models.AuditEvent
	for _, e := range ts.passwordEvents() {
		if e.ActorName == name {
			out = append(out, e)
		}
	}
	return out
}

func TestChangeOwnPassword(t *testing.T) {
	ts := newTestServer(t)
	for _, role := range auth.Roles {
		t.Run("a "+string(role)+" changes their own password with the current one", func(t *testing.T) {
			name := "pat-" + string(role)
			u := ts.user(name, role)
			here, elsewhere := ts.session(u), ts.session(u)
			change := func(current, next, confirm string) (int, string) {
				resp, body := ts.do(http.MethodPost, "/profile/password", reqOpts{session: here, csrf: true,
					form: url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {confirm}}})
				return resp.StatusCode, body
			}
			for _, tc := range []struct{ current, next, confirm, want string }{
				{"wrong-password", "brand-new-pass-1", "brand-new-pass-1", "The current password is wrong."},
				{"password-" + name, "brand-new-pass-1", "brand-new-pass-2", "The new password and its confirmation differ."},
				{"password-" + name, "short", "short", "The new password must be between 10 and 72 bytes."},
				{"password-" + name, "password-" + name, "password-" + name, "the same as the current one"},
			} {
				code, body := change(tc.current, tc.next, tc.confirm)
				wantStatus(t, code, body, http.StatusUnprocessableEntity, `data-testid="password-error"`)
				if !strings.Contains(body, tc.want) || !strings.Contains(body, `data-testid="password-form"`) {
					t.Fatalf("the profile must come back with %q:\n%s", tc.want, body)
				}
			}
			if !ts.passwordIs(name, "password-"+name) || !ts.signedIn(elsewhere) || len(ts.passwordEventsOf(name)) != 0 {
				t.Fatal("refused changes must change nothing")
			}
			code, body := change("password-"+name, "brand-new-pass-1", "brand-new-pass-1")
			wantStatus(t, code, body, http.StatusSeeOther, "")
			if !ts.passwordIs(name, "brand-new-pass-1") {
				t.Fatal("the password did not change")
			}
			if !ts.signedIn(here) || ts.signedIn(elsewhere) {
				t.Fatal("the session that changed it stays; the others end")
			}
			ev := ts.passwordEventsOf(name)
			if len(ev) != 1 || ev[0].ActorName != name || !strings.Contains(ev[0].Details, `"reset":false`) || strings.Contains(ev[0].Details, "brand-new") {
				t.Fatalf("audit: %+v", ev)
			}
		})
	}
	t.Run("an API token cannot change a password through the form", func(t *testing.T) {
		u := ts.user("tok", auth.Developer)
		tok, _ := ts.token(u)
		resp, _ := ts.do(http.MethodPost, "/profile/password", reqOpts{token: tok,
			form: url.Values{"current_password": {"password-tok"}, "new_password": {"brand-new-pass-1"}, "confirm_password": {"brand-new-pass-1"}}})
		if resp.StatusCode < 400 || !ts.passwordIs("tok", "password-tok") {
			t.Fatalf("token on a page form: %d", resp.StatusCode)
		}
	})
}

func TestAdminResetsAPassword(t *testing.T) {
	ts := newTestServer(t)
	root := ts.user("root", auth.Admin)
	rootSession := ts.session(root)
	rootToken, _ := ts.token(root)
	dora := ts.user("dora", auth.Developer)
	doraToken, _ := ts.token(dora)
	others := map[auth.Role]string{}
	for _, role := range []auth.Role{auth.Lead, auth.Developer, auth.QA, auth.Viewer} {
		u := ts.user("r-"+string(role), role)
		others[role] = ts.session(u)
	}
	reset := "/admin/users/" + itoa(dora.ID) + "/password"

	t.Run("only an admin resets, in the UI and the API", func(t *testing.T) {
		for role, s := range others {
			resp, _ := ts.do(http.MethodPost, reset, reqOpts{session: s, csrf: true, form: url.Values{"password": {"taken-over-123"}}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d", role, resp.StatusCode)
			}
		}
		resp, _ := ts.do(http.MethodPost, "/api/v1/users/root/password", reqOpts{token: doraToken, ctype: "application/json", body: `{"password":"taken-over-123"}`})
		if resp.StatusCode != http.StatusForbidden || !ts.passwordIs("root", "password-root") {
			t.Fatalf("a developer's token reset root's password: %d", resp.StatusCode)
		}
	})

	t.Run("a generated password is shown once with a copy button, and the user's sessions end", func(t *testing.T) {
		doraSession := ts.session(dora)
		resp, body := ts.do(http.MethodPost, reset, reqOpts{session: rootSession, csrf: true, form: url.Values{"password": {""}}})
		wantStatus(t, resp.StatusCode, body, http.StatusOK, `data-testid="new-password"`)
		if !strings.Contains(body, `data-testid="copy-new-password"`) || !strings.Contains(body, `data-copy="new-password-value"`) {
			t.Fatal("the once-shown password needs a copy button")
		}
		if ts.signedIn(doraSession) || ts.passwordIs("dora", "password-dora") {
			t.Fatal("dora's old password and session must be gone")
		}
		if !ts.signedIn(rootSession) {
			t.Fatal("the admin stays signed in")
		}
	})

	t.Run("a weak typed password shows the reason on the users page", func(t *testing.T) {
		resp, body := ts.do(http.MethodPost, reset, reqOpts{session: rootSession, csrf: true, form: url.Values{"password": {"short"}}})
		wantStatus(t, resp.StatusCode, body, http.StatusUnprocessableEntity, `data-testid="reset-error"`)
		if !strings.Contains(body, "Password for dora not changed: password must be between 10 and 72 bytes.") || !strings.Contains(body, `data-testid="users-table"`) {
			t.Fatalf("users page with the error:\n%s", body)
		}
	})

	t.Run("an admin's own password is changed on the profile, not reset", func(t *testing.T) {
		resp, _ := ts.do(http.MethodPost, "/admin/users/"+itoa(root.ID)+"/password", reqOpts{session: rootSession, csrf: true, form: url.Values{"password": {"taken-over-123"}}})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/profile") || !ts.passwordIs("root", "password-root") {
			t.Fatalf("self reset: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("the API sets a given password or returns a generated one once", func(t *testing.T) {
		doraSession := ts.session(dora)
		resp, body := ts.do(http.MethodPost, "/api/v1/users/dora/password", reqOpts{token: rootToken, ctype: "application/json", body: `{"password":"chosen-by-admin-1"}`})
		wantStatus(t, resp.StatusCode, body, http.StatusOK, `"username":"dora"`)
		if strings.Contains(body, "password") || !ts.passwordIs("dora", "chosen-by-admin-1") || ts.signedIn(doraSession) {
			t.Fatalf("given password: %s", body)
		}
		resp, body = ts.do(http.MethodPost, "/api/v1/users/dora/password", reqOpts{token: rootToken, ctype: "application/json", body: `{}`})
		var got struct{ Password string }
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || !ts.passwordIs("dora", got.Password) {
			t.Fatalf("generated: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do(http.MethodPost, "/api/v1/users/nobody/password", reqOpts{token: rootToken, ctype: "application/json", body: `{}`})
		wantStatus(t, resp.StatusCode, body, http.StatusNotFound, `{"error":"no user nobody"}`)
		resp, body = ts.do(http.MethodPost, "/api/v1/users/dora/password", reqOpts{token: rootToken, ctype: "application/json", body: `{"password":"short"}`})
		wantStatus(t, resp.StatusCode, body, http.StatusUnprocessableEntity, `"error":"password must be between`)
	})

	t.Run("resets are audited without the password", func(t *testing.T) {
		var details []string
		for _, e := range ts.passwordEvents() {
			if e.ActorName != "root" || e.ObjectID != itoa(dora.ID) {
				t.Errorf("event by %s on %s", e.ActorName, e.ObjectID)
			}
			details = append(details, e.Details)
		}
		all := strings.Join(details, "\n")
		if len(details) != 3 || !strings.Contains(all, `"reset":true`) || !strings.Contains(all, `"via":"api"`) || strings.Contains(all, "chosen-by-admin") {
			t.Fatalf("audit:\n%s", all)
		}
	})
}

func TestNewTokenHasACopyButton(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user("tia", auth.Viewer)
	s := ts.session(u)
	resp, _ := ts.do(http.MethodPost, "/profile/tokens", reqOpts{session: s, csrf: true, form: url.Values{"name": {"ci"}}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create token: %d", resp.StatusCode)
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Value != "" && strings.HasPrefix(c.Value, auth.TokenPrefix) {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no new-token cookie")
	}
	req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/profile", nil)
	req.Header.Set("Cookie", sessionCookie+"="+s+"; "+cookie)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, r2.Body)
	if !strings.Contains(buf.String(), `data-testid="copy-new-token"`) || !strings.Contains(buf.String(), `id="new-token-value"`) {
		t.Fatalf("the new token needs a copy button:\n%s", buf.String())
	}
}
