package handlers

import (
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/e2e"
)

// TestDORAPageInChromiumAtPhoneWidth opens the DORA page of the seeded
// history in Chromium at 390 px: the five values and bands are there, the
// five charts are drawn, and nothing is wider than the screen.
func TestDORAPageInChromiumAtPhoneWidth(t *testing.T) {
	ts := doraServer(t)
	sess := doraSession(ts, ts.user("vic", auth.Viewer))
	bctx := e2e.NewBrowser(t)
	if _, err := chromedp.Run(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: sessionCookie, Value: sess, URL: ts.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := e2e.Visit(bctx, ts.srv.URL+"/projects/shop/dora?days=7"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"dora-value-deployment_frequency":    "5 per week",
		"dora-band-deployment_frequency":     "high",
		"dora-value-lead_time_for_changes":   "1 h",
		"dora-band-lead_time_for_changes":    "elite",
		"dora-value-change_failure_rate":     "40%",
		"dora-band-change_failure_rate":      "low",
		"dora-value-time_to_restore_service": "1 h 10 min",
		"dora-value-rework_rate":             "60%",
	} {
		got, err := e2e.TextOf(bctx, id)
		if err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", id, got, err, want)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelectorAll('[data-drawn="true"] canvas').length === 5`)); err != nil {
		t.Fatalf("the five charts were not drawn: %v", err)
	}
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil || overflow {
		t.Errorf("page wider than 390 px: %v %v", overflow, err)
	}
	if errs := e2e.ConsoleErrors(bctx); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	e2e.Screenshot(t, bctx, "dora-phone")

	// Switching the window is a link: 30 days keeps the values (nothing
	// older), and the subtitle says so.
	if err := e2e.ClickAndLoad(bctx, e2e.TestID("dora-days-30")); err != nil {
		t.Fatal(err)
	}
	if got, _ := e2e.TextOf(bctx, "dora-value-deployment_frequency"); got != "1.2 per week" {
		t.Errorf("30 days: deployment frequency %q, want 5 in 30 days = 1.2 per week", got)
	}

	if _, err := chromedp.Run(bctx, chromedp.EmulateViewport(1280, 900, chromedp.EmulateScale(1))); err != nil {
		t.Fatal(err)
	}
	e2e.Screenshot(t, bctx, "dora-desktop-30-days")
}
