package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/e2e"
)

// TestHostileAppOnAnotherPortCannotForgeAFormInChromium plays the attack
// that made a developer an admin: the developer's app, served on another
// loopback port of the portal's host (the same site), plants a CSRF cookie
// and auto-submits a form to the portal while the admin looks at it.
func TestHostileAppOnAnotherPortCannotForgeAFormInChromium(t *testing.T) {
	ts := newTestServer(t)
	ts.user("root", auth.Admin)
	dev := ts.user("mallory", auth.Developer)
	var planted atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The cookie name and a token of the app's choosing, for every
		// port of this host; both the plain and the __Host- spelling.
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "forged-by-the-app", Path: "/"})
		planted.Store(true)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>cat pictures</title>
<form id="f" method="post" action="%s/admin/users/%d/role">
<input type="hidden" name="role" value="admin"><input type="hidden" name="_csrf" value="forged-by-the-app">
</form><script>document.getElementById("f").submit()</script>`, ts.srv.URL, dev.ID)
	}))
	t.Cleanup(app.Close)
	if !strings.HasPrefix(app.URL, "http://127.0.0.1:") || !strings.HasPrefix(ts.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the app (%s) and the portal (%s) must share a host", app.URL, ts.srv.URL)
	}

	bctx := e2e.NewBrowser(t)
	if err := e2e.Visit(bctx, ts.srv.URL+"/login"); err != nil {
		t.Fatal(err)
	}
	if err := e2e.Fill(bctx, "#username", "root"); err != nil {
		t.Fatal(err)
	}
	if err := e2e.Fill(bctx, "#password", "password-root"); err != nil {
		t.Fatal(err)
	}
	if err := e2e.ClickAndLoad(bctx, chromedp.CSS(`[data-testid="login-form"] button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
	if loc, _ := e2e.Location(bctx); strings.Contains(loc, "/login") {
		t.Fatalf("admin sign-in failed: at %s", loc)
	}

	// The admin opens the developer's app; it submits itself to the portal.
	if err := e2e.Visit(bctx, app.URL+"/"); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("%s/admin/users/%d/role", ts.srv.URL, dev.ID)
	deadline := time.Now().Add(15 * time.Second)
	for {
		loc, _ := e2e.Location(bctx)
		if strings.HasPrefix(loc, ts.srv.URL+"/") {
			break // the form was posted; a success would redirect on
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forged form never reached the portal (browser at %s)", loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !planted.Load() {
		t.Fatal("the app never planted its cookie")
	}
	e2e.Screenshot(t, bctx, "forged-form-answer")
	time.Sleep(200 * time.Millisecond)
	u, err := ts.store.User(t.Context(), dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != string(auth.Developer) {
		t.Fatalf("the app's forged form made its developer %s", u.Role)
	}
	if loc, _ := e2e.Location(bctx); loc != target {
		t.Fatalf("the browser is at %s, want the refused form's answer at %s", loc, target)
	}
	body := eval[string](t, bctx, `document.body.innerText`)
	if !strings.Contains(body, "refused") && !strings.Contains(body, "security token") {
		t.Fatalf("the portal's answer does not say why it refused:\n%s", body)
	}
	// The admin's own session still works, with the portal's own forms.
	if err := e2e.Visit(bctx, ts.srv.URL+"/admin/users"); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, bctx, `document.querySelectorAll('input[name="_csrf"]').length`); n == 0 {
		t.Fatal("the users page lost its forms")
	}
}
