package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserChangePassword walks the profile's change-password form: a
// wrong current password comes back on the same page with the message,
// the right one changes it, and the new password signs in.
func TestBrowserChangePassword(t *testing.T) {
	p := StartPortal(t, Options{})
	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	must(t, Visit(ctx, p.URL+"/profile"))
	must(t, WaitTestID(ctx, "password-form"))

	fill := func(current, next string) {
		t.Helper()
		must(t, Fill(ctx, "#f-current_password", current))
		must(t, Fill(ctx, "#f-new_password", next))
		must(t, Fill(ctx, "#f-confirm_password", next))
		must(t, ClickAndLoad(ctx, TestID("change-password")))
	}
	fill("not-the-password", "changed-in-browser-1")
	msg, err := TextOf(ctx, "password-error")
	must(t, err)
	if msg != "The current password is wrong." {
		t.Fatalf("error reads %q", msg)
	}
	if loc, _ := Location(ctx); loc != p.URL+"/profile/password" {
		t.Errorf("the form error should render in place, at %q", loc)
	}
	Screenshot(t, ctx, "password-error")

	fill(p.AdminPassword, "changed-in-browser-1")
	if loc, _ := Location(ctx); loc != p.URL+"/profile" {
		t.Fatalf("after the change the browser is at %q", loc)
	}
	html, err := PageHTML(ctx)
	must(t, err)
	if !strings.Contains(html, "Password changed.") {
		t.Fatal("no confirmation after the change")
	}

	// The once-shown token has a working copy button.
	must(t, Fill(ctx, `[data-testid="new-token-form"] input[name="name"]`, "ci"))
	must(t, ClickAndLoad(ctx, TestID("create-token")))
	must(t, WaitTestID(ctx, "copy-new-token"))
	must(t, step(ctx, chromedp.Click(`[data-testid="copy-new-token"]`, chromedp.NodeVisible)))
	var label string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		label, _ = TextOf(ctx, "copy-new-token")
		if label != "Copy" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if label != "Copied" {
		t.Errorf("the copy button reads %q after a click, want Copied", label)
	}

	fresh := NewBrowser(t)
	if err := Login(fresh, p, "admin", p.AdminPassword); err == nil {
		t.Fatal("the old password still signs in")
	}
	must(t, Login(fresh, p, "admin", "changed-in-browser-1"))
}
