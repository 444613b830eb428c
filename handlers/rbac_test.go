package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
)

// TestEveryRouteDeclaresAPermission fails when a route is registered
// without going through Handler.add.
func TestEveryRouteDeclaresAPermission(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range ts.e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		if _, ok := ts.h.Permission(r.Method, r.Path); !ok {
			t.Errorf("route %s %s declares no permission", r.Method, r.Path)
		}
	}
}

// TestRBACMatrix walks every registered route for every role and for an
// anonymous client and checks the answer matches the permission table.
func TestRBACMatrix(t *testing.T) {
	ts := newTestServer(t)
	users := map[auth.Role]struct{ session, token string }{}
	for _, role := range auth.Roles {
		u := ts.user("matrix-"+string(role), role)
		tok, _ := ts.token(u)
		users[role] = struct{ session, token string }{"", tok}
		_ = u
	}
	roles := append([]auth.Role{""}, auth.Roles...)
	for _, r := range ts.e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		perm, _ := ts.h.Permission(r.Method, r.Path)
		// IDs that match nothing keep one subtest from changing what later
		// ones use (revoking the token the matrix itself signs in with).
		path := strings.NewReplacer(":id", "999999", "*", "app.css").Replace(r.Path)
		for _, role := range roles {
			name := r.Method + " " + r.Path + " as " + string(role)
			if role == "" {
				name = r.Method + " " + r.Path + " as anonymous"
			}
			t.Run(name, func(t *testing.T) {
				o := reqOpts{csrf: true}
				if r.Method != http.MethodGet {
					o.form = url.Values{}
				}
				if role != "" {
					if strings.HasPrefix(r.Path, "/api/") {
						o.token = users[role].token
					} else {
						// A fresh session per request: some routes (logout) end it.
						u, err := ts.store.UserByName(t.Context(), "matrix-"+string(role))
						if err != nil {
							t.Fatal(err)
						}
						o.session = ts.session(u)
					}
				}
				resp, body := ts.do(r.Method, path, o)
				allowed := auth.Can(role, perm)
				switch {
				case allowed && resp.StatusCode == 401 && perm == auth.Public:
					// A public form (sign-in) may still refuse bad credentials.
				case allowed && (resp.StatusCode == 401 || resp.StatusCode == 403):
					t.Fatalf("allowed (%s) but got %d: %s", perm, resp.StatusCode, body)
				case allowed && resp.StatusCode >= 500:
					t.Fatalf("allowed (%s) but got a server error %d: %s", perm, resp.StatusCode, body)
				case !allowed && role != "" && resp.StatusCode != http.StatusForbidden:
					t.Fatalf("denied (%s) but got %d", perm, resp.StatusCode)
				case !allowed && role == "" && strings.HasPrefix(r.Path, "/api/") && resp.StatusCode != http.StatusUnauthorized:
					t.Fatalf("anonymous API call must be 401, got %d", resp.StatusCode)
				case !allowed && role == "" && !strings.HasPrefix(r.Path, "/api/") && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther:
					t.Fatalf("anonymous page must redirect to login or be 401, got %d", resp.StatusCode)
				}
				if !allowed && role == "" && resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Fatalf("anonymous redirect goes to %q, want /login", resp.Header.Get("Location"))
				}
			})
		}
	}
}
