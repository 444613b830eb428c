package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserIDE creates a hosted project, writes .slipway.yml and VERSION
// in the IDE (the YAML error shows inline as it is typed, then goes away
// when fixed), reviews the diff, commits, watches the build in the IDE's
// build panel, then dev's auto-deploy of the commit go live there, and
// fetches the app from dev's edge address to see the committed VERSION.
func TestBrowserIDE(t *testing.T) {
	p := StartPortal(t, Options{})
	ctx := NewBrowserFor(t, 4*time.Minute)
	must(t, Login(ctx, p, "admin", p.AdminPassword))

	must(t, Visit(ctx, p.URL+"/projects/new"))
	must(t, Fill(ctx, "#f-name", "IDE demo"))
	must(t, step(ctx, chromedp.Click(TestID("source-hosted"), chromedp.NodeVisible)))
	must(t, ClickAndLoad(ctx, TestID("create-project")))
	must(t, WaitTestID(ctx, "clone-url"))
	must(t, ClickAndLoad(ctx, TestID("open-ide")))
	must(t, WaitTestID(ctx, "empty-repo"))

	// newFile answers the IDE's path prompt with name and opens the file.
	newFile := func(name string) {
		t.Helper()
		must(t, step(ctx,
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf("window.prompt = () => %q", name)),
			chromedp.Click(TestID("new-file"), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(".cm-content")),
		))
		Until(t, "the editor shows "+name, 10*time.Second, 100*time.Millisecond, func() (bool, string, error) {
			s, err := TextOf(ctx, "editor-file")
			return s == name, s, err
		})
	}
	typeText := func(text string) {
		t.Helper()
		must(t, step(ctx, chromedp.Click(chromedp.CSS(".cm-content"), chromedp.NodeVisible), chromedp.SendKeys(chromedp.CSS(".cm-content"), text)))
	}
	diagnostics := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="diagnostics"]').innerText`))
		return s
	}

	newFile(".slipway.yml")
	// One flow mapping, so the editor's auto-indent cannot change it: the
	// artifact is VERSION and the app serves its own folder.
	typeText("{build: [{name: hello, run: cat VERSION}")
	Until(t, "the YAML error shows inline", 10*time.Second, 200*time.Millisecond, func() (bool, string, error) {
		d := diagnostics()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.cm-lintRange-error, .cm-lint-marker-error').length`))
		return strings.Contains(d, ".slipway.yml:1:") && n > 0, d, err
	})
	Screenshot(t, ctx, "yaml-error-inline")
	typeText("], artifact: {paths: [VERSION]}, app: {run: python3 -m http.server $PORT --bind 127.0.0.1, health: /VERSION}}")
	Until(t, "the YAML error goes away once fixed", 10*time.Second, 200*time.Millisecond, func() (bool, string, error) {
		d := diagnostics()
		return d == "", d, nil
	})

	newFile("VERSION")
	typeText("1.0.0")
	must(t, WaitTestID(ctx, "changes"))
	changes, err := TextOf(ctx, "changes")
	must(t, err)
	if !strings.Contains(changes, "A .slipway.yml") || !strings.Contains(changes, "A VERSION") {
		t.Fatalf("the changes list reads %q", changes)
	}

	// Unsaved edits survive a reload.
	must(t, Visit(ctx, p.URL+"/projects/ide-demo/ide?path=VERSION"))
	Until(t, "the edits are back after a reload", 10*time.Second, 200*time.Millisecond, func() (bool, string, error) {
		s, err := TextOf(ctx, "changes")
		return strings.Contains(s, "A VERSION") && strings.Contains(s, "A .slipway.yml"), s, err
	})

	must(t, step(ctx, chromedp.Click(TestID("review"), chromedp.NodeVisible)))
	must(t, step(ctx, chromedp.WaitVisible(chromedp.CSS("#ide-diff .cm-mergeView"))))
	must(t, Fill(ctx, "#ide-message", "Pipeline and version from the IDE"))
	Screenshot(t, ctx, "review")
	must(t, ClickAndLoad(ctx, TestID("commit")))
	must(t, WaitTestID(ctx, "build-panel"))
	Until(t, "the build panel shows the build running or done", 60*time.Second, 300*time.Millisecond, func() (bool, string, error) {
		s, err := TextOf(ctx, "build-panel")
		return strings.Contains(s, "Build #1") && (strings.Contains(s, "running") || strings.Contains(s, "succeeded")), s, err
	})
	Until(t, "the build log streams in", 60*time.Second, 300*time.Millisecond, func() (bool, string, error) {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="build-log"]').textContent`))
		return strings.Contains(s, "1.0.0"), s, err
	})
	Until(t, "the build succeeds", 60*time.Second, 300*time.Millisecond, func() (bool, string, error) {
		s, err := TextOf(ctx, "build-status")
		return strings.Contains(s, "succeeded"), s, err
	})
	Screenshot(t, ctx, "after-commit")

	// dev auto-deploys the commit; the panel follows the deploy until live.
	Until(t, "the panel shows dev's deploy live", 120*time.Second, 500*time.Millisecond, func() (bool, string, error) {
		s, err := TextOf(ctx, "deploy-status")
		if strings.Contains(s, "deploy failed") {
			return false, s, fmt.Errorf("the deploy failed: %s", s)
		}
		return strings.Contains(s, "dev: deploy live") && strings.Contains(s, "Open the app"), s, err
	})
	Screenshot(t, ctx, "deploy-live")
	appURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="deploy-status"] a[target="_blank"]').href`))
	must(t, err)
	if !strings.HasPrefix(appURL, "http://127.0.0.1:") {
		t.Fatalf("the app link is %q, want dev's edge address", appURL)
	}
	resp, err := http.Get(strings.TrimRight(appURL, "/") + "/VERSION")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "1.0.0" {
		t.Fatalf("dev's edge answers %d %q, want the committed VERSION 1.0.0", resp.StatusCode, body)
	}
	tree, err := TextOf(ctx, "file-tree")
	must(t, err)
	if !strings.Contains(tree, "VERSION") || !strings.Contains(tree, ".slipway.yml") {
		t.Fatalf("after the commit the tree reads %q", tree)
	}
	// The new-project form's slug pattern is refused by Chromium's
	// v-flag regular expressions; that page is not the IDE's.
	for _, e := range ConsoleErrors(ctx) {
		if !strings.Contains(e, "/projects/new") {
			t.Fatalf("console error: %s", e)
		}
	}
}
