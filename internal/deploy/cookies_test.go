package deploy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTheEdgeKeepsPortalCookiesFromApps is the attack of a deployed app on
// the portal's session: the browser sends every cookie of the host to the
// app's port, and takes cookies the app sets for the host.
func TestTheEdgeKeepsPortalCookiesFromApps(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.StartInstance(context.Background(), appSpec(t, "proj/dev", 1, "v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Switch("proj/dev", inst); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/cookies", nil)
	req.Header.Add("Cookie", "slipway_session=admin-session-id; app_pref=light")
	req.Header.Add("Cookie", "__Host-slipway_session=other; __Host-slipway_csrf=tok; theme=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	seen := string(body)
	for _, secret := range []string{"admin-session-id", "slipway_session", "slipway_csrf", "other", "tok"} {
		if strings.Contains(seen, secret) {
			t.Errorf("the app saw %q: %s", secret, seen)
		}
	}
	if !strings.Contains(seen, "app_pref=light") || !strings.Contains(seen, "theme=x") {
		t.Errorf("the app's own cookies were not passed on: %s", seen)
	}
	var names []string
	for _, c := range resp.Cookies() {
		names = append(names, c.Name)
	}
	if strings.Contains(strings.Join(names, ","), "slipway_session") {
		t.Errorf("the app planted a portal cookie: Set-Cookie names %v", names)
	}
	if !strings.Contains(strings.Join(names, ","), "app_pref") {
		t.Errorf("the app's own Set-Cookie was dropped: %v", names)
	}
}

func TestIsPortalCookie(t *testing.T) {
	for name, want := range map[string]bool{
		"slipway_session": true, "__Host-slipway_session": true, "__Host-slipway_csrf": true,
		"SLIPWAY_SESSION": true, "__Secure-slipway_x": true, "session": false, "app_slipway": false,
	} {
		if got := isPortalCookie(name); got != want {
			t.Errorf("isPortalCookie(%q) = %v, want %v", name, got, want)
		}
	}
}
