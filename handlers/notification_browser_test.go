package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/internal/notify/notifytest"
)

// TestNotificationEndpointSendTestInChromium creates a webhook endpoint in
// the browser, copies nothing but sees the secret once, clicks "Send test"
// and watches the delivery arrive in the log, signed with that secret.
func TestNotificationEndpointSendTestInChromium(t *testing.T) {
	ts := newTestServerWith(t, true)
	notifyProject(t, ts)
	ts.user("root", auth.Admin)
	rc := notifytest.NewReceiver(t, nil)

	bctx := e2e.NewBrowser(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			e2e.Screenshot(t, bctx, "notification-failure")
			t.Fatal(err)
		}
	}
	must(e2e.Visit(bctx, ts.srv.URL+"/login"))
	must(e2e.Fill(bctx, "#username", "root"))
	must(e2e.Fill(bctx, "#password", "password-root"))
	must(e2e.ClickAndLoad(bctx, chromedp.CSS(`[data-testid="login-form"] button[type="submit"]`)))

	must(e2e.Visit(bctx, ts.srv.URL+"/projects/shop"))
	must(e2e.ClickAndLoad(bctx, e2e.TestID("open-notifications")))
	must(e2e.Fill(bctx, "#f-name", "deploy bot"))
	must(e2e.Fill(bctx, "#f-url", rc.URL+"/hook"))
	_, err := chromedp.Run(bctx, chromedp.Click(e2e.TestID("event-deploy.live"), chromedp.NodeVisible))
	must(err)
	e2e.Screenshot(t, bctx, "notifications-new")
	must(e2e.ClickAndLoad(bctx, e2e.TestID("create-endpoint")))

	secret, err := e2e.TextOf(bctx, "new-secret")
	must(err)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret shown: %q", secret)
	}
	must(e2e.WaitTestID(bctx, "copy-new-secret"))
	e2e.Screenshot(t, bctx, "notifications-secret")

	must(e2e.ClickAndLoad(bctx, e2e.TestID("send-test")))
	if ok, _ := e2e.HasTestID(bctx, "new-secret"); ok {
		t.Fatal("the secret is shown a second time")
	}
	req := rc.Wait(t, 1, 20*time.Second)[0]
	if !notify.Verify(secret, req.Header.Get("webhook-id"), mustInt(t, req.Header.Get("webhook-timestamp")), req.Body, req.Header.Get("webhook-signature")) {
		t.Fatal("the test message does not verify with the secret the page showed")
	}
	e2e.Until(t, "the delivery shows as succeeded", 20*time.Second, 200*time.Millisecond, func() (bool, string, error) {
		if err := e2e.ClickAndLoad(bctx, e2e.TestID("refresh-log")); err != nil {
			return false, "", err
		}
		s, err := e2e.TextIn(bctx, `[data-testid="deliveries"] tbody tr`)
		return strings.Contains(s, "succeeded") && strings.Contains(s, "test") && strings.Contains(s, "200"), s, err
	})
	e2e.Screenshot(t, bctx, "notifications-log")

	// The same page on a phone: nothing may overflow the viewport.
	_, err = chromedp.Run(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile))
	must(err)
	endpointPage, err := e2e.Location(bctx)
	must(err)
	for name, u := range map[string]string{"list": ts.srv.URL + "/projects/shop/notifications", "endpoint": endpointPage} {
		must(e2e.Visit(bctx, u))
		wide, err := chromedp.Run(bctx, chromedp.Evaluate[bool]("document.documentElement.scrollWidth > window.innerWidth"))
		must(err)
		e2e.Screenshot(t, bctx, "notifications-phone-"+name)
		if wide {
			t.Fatalf("the %s page overflows a 390 px screen", name)
		}
	}
}
