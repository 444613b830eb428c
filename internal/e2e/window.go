package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// PrivateWindow opens a new browser context in the Chromium of ctx — its
// own cookies and storage, like a private window — for a second user in
// the same test. Its screenshots go to the same folder and number on with
// those of ctx. It closes at cleanup.
func PrivateWindow(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	wctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(wctx); err != nil {
		cancel()
		t.Fatalf("e2e: open a private window: %v", err)
	}
	t.Cleanup(cancel)
	return wctx
}

// AcceptDialogs answers every JavaScript dialog (confirm, alert) the pages
// of ctx open with OK, as a user clicking OK would, until ctx ends. Call it
// once per browser context, before the click that asks.
func AcceptDialogs(ctx context.Context) {
	opening := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range opening {
			if err != nil {
				return
			}
			// Answer from another goroutine than the one receiving events.
			go func() {
				_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
					return err
				}))
			}()
		}
	}()
}

// Until polls check every interval until it reports done, or fails the
// test after d naming the step that did not happen and what check last
// said. check returns a short description of what it saw; a non-nil error
// ends the wait at once.
func Until(t testing.TB, step string, d, interval time.Duration, check func() (done bool, saw string, err error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var saw string
	for {
		done, s, err := check()
		if err != nil {
			t.Fatalf("e2e: step %q: %v", step, err)
		}
		saw = s
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2e: step %q did not happen within %s; last seen: %s", step, d, saw)
		}
		time.Sleep(interval)
	}
}

// TextIn returns the visible text of the first element the CSS selector
// sel finds, trimmed.
func TextIn(ctx context.Context, sel string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		return "", fmt.Errorf("e2e: text of %s: %w", sel, err)
	}
	return strings.TrimSpace(s), nil
}
