package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// apiMe calls GET /api/v1/me with the token and returns the status and body.
func apiMe(t *testing.T, p *Portal, token string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+"/api/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/me: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET /api/v1/me: decode: %v", err)
		}
	}
	return resp.StatusCode, body
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBrowserLoginTokenLogout(t *testing.T) {
	p := StartPortal(t, Options{})
	ctx := NewBrowser(t)

	must(t, Visit(ctx, p.URL+"/login"))
	must(t, WaitTestID(ctx, "login-form"))
	Screenshot(t, ctx, "login-form")

	must(t, Login(ctx, p, "admin", p.AdminPassword))
	if loc, err := Location(ctx); err != nil || loc != p.URL+"/" {
		t.Fatalf("after login the browser is at %q (%v), want the dashboard %s/", loc, err, p.URL)
	}
	who, err := TextOf(ctx, "current-user")
	must(t, err)
	if !strings.HasPrefix(who, "admin") {
		t.Errorf("current user reads %q, want it to name admin", who)
	}
	Screenshot(t, ctx, "dashboard")

	must(t, ClickAndLoad(ctx, TestID("current-user")))
	must(t, WaitTestID(ctx, "new-token-form"))
	if loc, _ := Location(ctx); loc != p.URL+"/profile" {
		t.Errorf("the current-user link led to %q, want %s/profile", loc, p.URL)
	}
	Screenshot(t, ctx, "profile")

	must(t, Fill(ctx, `[data-testid="new-token-form"] input[name="name"]`, "ci"))
	must(t, ClickAndLoad(ctx, TestID("create-token")))
	token, err := TextOf(ctx, "new-token")
	must(t, err)
	if token == "" || strings.ContainsAny(token, " \n") {
		t.Fatalf("new token reads %q, want one non-empty word", token)
	}
	must(t, WaitTestID(ctx, "token-ci"))
	html, err := PageHTML(ctx)
	must(t, err)
	if n := strings.Count(html, token); n != 1 {
		t.Errorf("the token appears %d times on the page that created it, want once", n)
	}
	Screenshot(t, ctx, "token-created")

	status, me := apiMe(t, p, token)
	if status != http.StatusOK || me["username"] != "admin" || me["role"] != "admin" {
		t.Errorf("GET /api/v1/me with the new token: %d %v, want 200 admin/admin", status, me)
	}
	if status, _ := apiMe(t, p, token+"x"); status != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me with a wrong token: %d, want 401", status)
	}

	must(t, Visit(ctx, p.URL+"/profile"))
	must(t, WaitTestID(ctx, "token-ci"))
	shown, err := HasTestID(ctx, "new-token")
	must(t, err)
	html, err = PageHTML(ctx)
	must(t, err)
	if shown || strings.Contains(html, token) {
		t.Errorf("the profile shows the token again after a reload (new-token element: %v)", shown)
	}
	Screenshot(t, ctx, "profile-reloaded")

	must(t, ClickAndLoad(ctx, TestID("logout")))
	must(t, WaitTestID(ctx, "login-form"))
	if loc, _ := Location(ctx); !strings.HasPrefix(loc, p.URL+"/login") {
		t.Errorf("after sign out the browser is at %q, want the login page", loc)
	}
	Screenshot(t, ctx, "signed-out")

	must(t, Visit(ctx, p.URL+"/"))
	must(t, WaitTestID(ctx, "login-form"))
	if loc, _ := Location(ctx); !strings.HasPrefix(loc, p.URL+"/login") {
		t.Errorf("after sign out / went to %q, want a redirect to /login", loc)
	}
	if ok, _ := HasTestID(ctx, "current-user"); ok {
		t.Error("after sign out a page still shows the current user")
	}
	Screenshot(t, ctx, "home-redirects-to-login")
}

func TestBrowserLoginErrorIsGeneric(t *testing.T) {
	p := StartPortal(t, Options{})
	ctx := NewBrowser(t)
	tests := []struct {
		name, user, pass string
	}{
		{"a wrong password for an existing user is refused generically", "admin", "not-the-password"},
		{"a user who does not exist is refused with the same message", "nobody-here", "not-the-password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Login(ctx, p, tt.user, tt.pass)
			var le *LoginError
			if !errors.As(err, &le) {
				t.Fatalf("Login(%s) = %v, want a refusal", tt.user, err)
			}
			if le.Message != "Invalid username or password." {
				t.Errorf("the form says %q, want %q", le.Message, "Invalid username or password.")
			}
			if loc, _ := Location(ctx); !strings.HasPrefix(loc, p.URL+"/login") {
				t.Errorf("after a refused login the browser is at %q, want /login", loc)
			}
			Screenshot(t, ctx, tt.user)
		})
	}
}
