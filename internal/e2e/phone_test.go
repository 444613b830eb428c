package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// phoneWidth is the CSS width of a common phone (an iPhone 12 to 15).
const phoneWidth = 390

// overflowJS reports how the page fits the window: "ok", or the page's
// scroll width and the widest elements that stick out (those inside a
// box that scrolls sideways by design do not count).
//
// A phone's browser zooms out to fit a page wider than the phone, and
// window.innerWidth then grows with the page; so the width is also
// compared with the phone's.
const overflowJS = `(() => {
	const w = Math.min(window.innerWidth, ` + "390" + `), sw = document.documentElement.scrollWidth;
	if (sw <= w) return "ok";
	const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === "auto" || o === "scroll" || o === "hidden") return true; } return false; };
	const out = [];
	for (const el of document.body.querySelectorAll("*")) {
		const r = el.getBoundingClientRect();
		if (r.right > w + 0.5 && !scrolls(el)) out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.dataset.testid ? "[" + el.dataset.testid + "]" : "") + "." + String(el.className).split(" ").slice(0, 4).join(".") + " right=" + Math.round(r.right));
	}
	return "scrollWidth " + sw + " > innerWidth " + w + ": " + out.slice(0, 6).join(" | ");
})()`

// reachableJS reports whether the element with the test ID lies inside
// the window's width (a tap can reach it without scrolling sideways).
func reachableJS(id string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); if (!el) return "missing"; const r = el.getBoundingClientRect(); return r.left >= 0 && r.right <= Math.min(window.innerWidth, 390) && r.width > 0 ? "ok" : "outside: left " + Math.round(r.left) + ", right " + Math.round(r.right); })()`, id)
}

// phone sets ctx's window to a phone's size, as a phone's browser lays
// pages out (the page's viewport meta tag applies).
func phone(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile))
	must(t, err)
}

// TestBrowserPagesFitAPhone visits every page a signed-in admin can
// reach, and the sign-in page, at a phone's width (390 px) and checks that
// none is wider than the window (tables scroll in their own box), and that
// the Deploy and Approve/Reject buttons are within reach.
func TestBrowserPagesFitAPhone(t *testing.T) {
	p := StartPortal(t, Options{})
	b1, b2 := seedDeployable(t, p)
	a := newAPIClient(t, p)

	// A live release on staging, then a promotion to protected production
	// that waits for an approval.
	var rel struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	a.do(http.MethodPost, "/api/v1/projects/shop/environments/staging/deploys", map[string]any{"build_id": b2}, &rel, http.StatusCreated)
	Until(t, "the staging release goes live", 90*time.Second, 200*time.Millisecond, func() (bool, string, error) {
		a.do(http.MethodGet, "/api/v1/releases/"+strconv.FormatInt(rel.ID, 10), nil, &rel, http.StatusOK)
		if rel.Status == "failed" {
			return false, "", fmt.Errorf("the staging deploy failed")
		}
		return rel.Status == "live", "status " + rel.Status, nil
	})
	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	must(t, Visit(ctx, p.URL+"/projects/shop/environments/staging"))
	must(t, ClickAndLoad(ctx, TestID("promote")))
	promotion, err := Location(ctx)
	must(t, err)
	if !strings.Contains(promotion, "/promotions/") {
		t.Fatalf("Promote led to %s, want a promotion page", promotion)
	}

	addUser(t, p, "lead1", "lead", "lead1-password-123")
	lead := PrivateWindow(t, ctx)
	must(t, Login(lead, p, "lead1", "lead1-password-123"))

	phone(t, ctx)
	phone(t, lead)
	pages := []struct {
		name, path string
		// reach are test IDs of buttons that must be within the width.
		reach []string
	}{
		{"dashboard", "/", nil},
		{"projects", "/projects", nil},
		{"project", "/projects/shop", nil},
		{"builds", "/builds", nil},
		{"build", "/builds/" + strconv.FormatInt(b1, 10), []string{"deploy-to-dev"}},
		{"environments", "/environments", nil},
		{"environment", "/projects/shop/environments/staging", []string{"promote"}},
		{"release", "/releases/" + strconv.FormatInt(rel.ID, 10), nil},
		{"promotions", "/approvals", nil},
		{"promotion", strings.TrimPrefix(promotion, p.URL), nil},
		{"load tests", "/loadtests", nil},
		{"audit", "/audit", nil},
		{"users", "/admin/users", nil},
		{"profile", "/profile", nil},
	}
	check := func(ctx context.Context, name string, reach []string) {
		t.Helper()
		Screenshot(t, ctx, "phone-"+name)
		if got := evalJS[string](t, ctx, overflowJS); got != "ok" {
			t.Errorf("%s at %d px: %s", name, phoneWidth, got)
		}
		for _, id := range reach {
			if got := evalJS[string](t, ctx, reachableJS(id)); got != "ok" {
				t.Errorf("%s at %d px: button %s is %s", name, phoneWidth, id, got)
			}
		}
	}
	for _, pg := range pages {
		must(t, Visit(ctx, p.URL+pg.path))
		check(ctx, pg.name, pg.reach)
	}

	// The lead, who may decide, reaches Approve and Reject.
	must(t, Visit(lead, promotion))
	check(lead, "promotion-lead", []string{"approve", "reject"})

	// The sign-in page, signed out.
	anon := PrivateWindow(t, ctx)
	phone(t, anon)
	must(t, Visit(anon, p.URL+"/login"))
	must(t, WaitTestID(anon, "login-form"))
	check(anon, "login", nil)
}
