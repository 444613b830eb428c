package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Bounds of the journey's waits. A cold first build compiles the Go
// standard library's HTTP stack, which takes minutes on a loaded 2-core
// machine; everything after it is seconds.
const (
	journeyBrowser = 9 * time.Minute
	firstBuildWait = 5 * time.Minute
	buildWait      = 2 * time.Minute
	deployWait     = 90 * time.Second
	loadTestWait   = 90 * time.Second
	pollEvery      = time.Second
)

// TestJourney walks issue 8's newcomer journey through the UI only —
// clicks, forms and reloads in a real Chromium, no API and no database:
// the admin signs in, creates the demo project from the dashboard and notes
// the lead's password, watches the first build's live log, sees dev go
// live by itself and serve v1, promotes to staging, runs the staging load
// test, promotes to production and sees it wait for an approval; the lead,
// in a private window, approves from the inbox; production serves v1.
// Then a change is shipped and v2 goes the same way to production, and
// production is rolled back in one click to serve v1 again. Every step
// saves a screenshot to e2e-screenshots/TestJourney/.
//
// Figures (logged): the time from `go run ./cmd/slipway` to the first
// production release is measured as `go build ./cmd/slipway` with the
// module and build caches warm (what `go run` does before it starts the
// binary) plus the binary's start to /healthz plus the journey up to
// production serving v1 — clicks included, at the pace of this test. The
// suite's total time is logged at the end.
func TestJourney(t *testing.T) {
	suiteStart := time.Now()
	root, err := ModuleRoot()
	must(t, err)
	bin := filepath.Join(t.TempDir(), "slipway")
	goRun := time.Now()
	build := exec.Command("go", "build", "-o", bin, "./cmd/slipway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/slipway: %v\n%s", err, out)
	}
	built := time.Since(goRun)
	p := StartPortal(t, Options{Binary: bin})
	healthy := time.Since(goRun)
	t.Logf("go build ./cmd/slipway: %s; started and healthy after %s", built.Round(100*time.Millisecond), healthy.Round(100*time.Millisecond))

	admin := NewBrowserFor(t, journeyBrowser)
	AcceptDialogs(admin)
	j := &journey{t: t, p: p, admin: admin}

	// The admin signs in to an empty portal: the dashboard offers the demo.
	j.step("sign in", func() { must(t, Login(admin, p, "admin", p.AdminPassword)) })
	j.see(admin, "demo-offer", "New here? Try the whole path")
	j.shot(admin, "dashboard-offers-demo")

	// One click creates it; the guide shows the lead's password once.
	j.step("create the demo project", func() { must(t, ClickAndLoad(admin, TestID("create-demo"))) })
	j.see(admin, "flash-success", "build #1 is running")
	leadName := j.text(admin, "demo-lead-name")
	leadPassword := j.text(admin, "demo-lead-password")
	if leadName != "lead" || len(leadPassword) < 12 {
		t.Fatalf("the guide shows lead %q with password %q", leadName, leadPassword)
	}
	j.shot(admin, "guide-with-lead-password")

	// The first build runs; its live log shows lines.
	j.step("open the first build", func() { must(t, ClickAndLoad(admin, stepLink("demo-step-build"))) })
	build1 := j.location(admin)
	Until(t, "the live log shows the build's lines", firstBuildWait, 200*time.Millisecond, func() (bool, string, error) {
		s, err := TextOf(admin, "log-lines")
		return strings.Contains(s, "[slipway]") && strings.Count(s, "\n") >= 3, lastLine(s), err
	})
	j.shot(admin, "build-live-log")
	j.waitBuild(build1, firstBuildWait)
	j.shot(admin, "build-succeeded")

	// dev deploys it by itself and serves v1.
	j.guide("demo-step-dev")
	j.waitLive("dev", "#1")
	j.shot(admin, "dev-live")
	j.seeApp(admin, "dev", "v1")

	// Promote to staging: unprotected, so it deploys at once.
	j.promote("dev", "staging")
	j.waitLive("staging", "#1")
	j.shot(admin, "staging-live")

	// Run the staging load test and watch it pass.
	j.loadTest()

	// Promote to production: it waits for a lead, and says so.
	promo := j.promote("staging", "production")
	j.waitLead(promo, leadName, leadPassword)

	// The lead approves from the inbox in a private window.
	lead := PrivateWindow(t, admin)
	j.step("sign in as the lead", func() { must(t, Login(lead, p, leadName, leadPassword)) })
	j.approve(lead, promo)

	// Production goes live with v1.
	j.waitPromotion(admin, promo, "deployed")
	j.shot(admin, "production-promotion-deployed")
	j.envPage("production")
	j.waitLive("production", "#1")
	j.shot(admin, "production-live")
	j.seeApp(admin, "production", "v1")
	firstRelease := time.Since(goRun)
	t.Logf("FIGURE time from go build + start to the first production release: %s (go build %s, start to healthy %s)",
		firstRelease.Round(100*time.Millisecond), built.Round(100*time.Millisecond), (healthy - built).Round(100*time.Millisecond))

	// Ship a change from the demo project's page: v2 is committed and built.
	must(t, Visit(admin, p.URL+"/demo"))
	j.step("open the demo project", func() { must(t, ClickAndLoad(admin, TestID("demo-open-project"))) })
	j.see(admin, "ship-change", "v1 → v2")
	j.shot(admin, "project-ship-a-change")
	j.step("ship a change", func() { must(t, ClickAndLoad(admin, TestID("ship-change"))) })
	j.see(admin, "flash-success", "Ship v2")
	build2 := j.location(admin)
	j.waitBuild(build2, buildWait)
	j.shot(admin, "v2-build-succeeded")

	// v2 goes the same way: dev by itself, staging, load test, production.
	j.guide("demo-step-dev")
	j.waitLive("dev", "#2")
	j.seeApp(admin, "dev", "v2")
	j.promote("dev", "staging")
	j.waitLive("staging", "#2")
	j.loadTest()
	promo2 := j.promote("staging", "production")
	j.waitLead(promo2, leadName, leadPassword)
	j.approve(lead, promo2)
	j.waitPromotion(admin, promo2, "deployed")
	j.envPage("production")
	j.waitLive("production", "#2")
	j.shot(admin, "production-live-build-2")
	j.seeApp(admin, "production", "v2")

	// Roll production back in one click: v1 serves again.
	j.envPage("production")
	j.see(admin, "rollback", "Roll back to")
	j.shot(admin, "production-offers-rollback")
	j.step("roll production back", func() { must(t, ClickAndLoad(admin, TestID("rollback"))) })
	j.envPage("production")
	Until(t, "production serves v1 again after the rollback", deployWait, pollEvery, func() (bool, string, error) {
		v, err := j.appVersion(admin, "production")
		return v == "v1", "version " + v, err
	})
	j.envPage("production")
	j.shot(admin, "production-rolled-back")
	j.seeApp(admin, "production", "v1")

	// The guide shows every step done.
	must(t, Visit(admin, p.URL+"/demo"))
	for _, id := range []string{"build", "dev", "staging", "loadtest", "production", "ship", "rollback"} {
		if done := j.attr(admin, "demo-step-"+id, "data-done"); done != "true" {
			t.Errorf("the guide's step %s is not marked done", id)
		}
	}
	j.shot(admin, "guide-all-done")

	t.Logf("FIGURE journey suite total: %s", time.Since(suiteStart).Round(100*time.Millisecond))
}

// journey is the state the steps of TestJourney share.
type journey struct {
	t     *testing.T
	p     *Portal
	admin context.Context
}

// step runs one named action and says which step ran when it fails.
func (j *journey) step(name string, f func()) {
	j.t.Helper()
	j.t.Logf("step: %s", name)
	f()
}

// shot saves a screenshot of ctx's page.
func (j *journey) shot(ctx context.Context, name string) {
	j.t.Helper()
	Screenshot(j.t, ctx, name)
}

// text returns the text of data-testid=id, failing the test without it.
func (j *journey) text(ctx context.Context, id string) string {
	j.t.Helper()
	s, err := TextOf(ctx, id)
	if err != nil {
		Screenshot(j.t, ctx, "missing-"+id)
		j.t.Fatalf("the page lacks %s: %v", id, err)
	}
	return s
}

// see asserts data-testid=id shows want.
func (j *journey) see(ctx context.Context, id, want string) {
	j.t.Helper()
	if got := j.text(ctx, id); !strings.Contains(got, want) {
		Screenshot(j.t, ctx, "unexpected-"+id)
		j.t.Fatalf("%s reads %q, want %q", id, got, want)
	}
}

// attr returns an attribute of data-testid=id.
func (j *journey) attr(ctx context.Context, id, name string) string {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="`+id+`"]')?.getAttribute("`+name+`") ?? ""`))
	must(j.t, err)
	return v
}

// location is the current page's path.
func (j *journey) location(ctx context.Context) string {
	j.t.Helper()
	loc, err := Location(ctx)
	must(j.t, err)
	return strings.TrimPrefix(loc, j.p.URL)
}

// guide opens the demo guide and follows the link of one of its steps.
func (j *journey) guide(stepID string) {
	j.t.Helper()
	must(j.t, Visit(j.admin, j.p.URL+"/demo"))
	j.step("follow the guide's "+stepID, func() { must(j.t, ClickAndLoad(j.admin, stepLink(stepID))) })
}

// envPage opens an environment's page of the demo project.
func (j *journey) envPage(env string) {
	j.t.Helper()
	must(j.t, Visit(j.admin, j.p.URL+"/projects/hello/environments/"+env))
}

// waitBuild reloads the build page until the build succeeded.
func (j *journey) waitBuild(path string, d time.Duration) {
	j.t.Helper()
	Until(j.t, "build "+path+" succeeds", d, 2*pollEvery, func() (bool, string, error) {
		if err := Visit(j.admin, j.p.URL+path); err != nil {
			return false, "", err
		}
		s, err := TextOf(j.admin, "build-status")
		if err != nil {
			return false, "", err
		}
		if strings.Contains(s, "failed") || strings.Contains(s, "canceled") {
			reason, _ := TextOf(j.admin, "build-reason")
			Screenshot(j.t, j.admin, "build-failed")
			return false, "", &stepError{"build " + path + " ended " + s + ": " + reason}
		}
		return strings.Contains(s, "succeeded"), "status " + s, nil
	})
}

// waitLive reloads an environment's page until build want ("#1") is live.
func (j *journey) waitLive(env, want string) {
	j.t.Helper()
	Until(j.t, env+" runs build "+want, deployWait, pollEvery, func() (bool, string, error) {
		j.envPage(env)
		ok, err := HasTestID(j.admin, "live-release")
		if err != nil || !ok {
			return false, "nothing live", err
		}
		s, err := TextOf(j.admin, "live-release")
		return strings.Contains(s, "Build\n"+want) || strings.Contains(s, want+" of"), s, err
	})
}

// appVersion opens the environment's URL from its page in the browser and
// reads the version the app shows.
func (j *journey) appVersion(ctx context.Context, env string) (string, error) {
	must(j.t, Visit(ctx, j.p.URL+"/projects/hello/environments/"+env))
	url, err := TextOf(ctx, "env-url")
	if err != nil {
		return "", err
	}
	if err := Visit(ctx, url); err != nil {
		return "", err
	}
	return TextIn(ctx, "[data-version]")
}

// seeApp opens the environment's URL and asserts the app shows version.
func (j *journey) seeApp(ctx context.Context, env, version string) {
	j.t.Helper()
	v, err := j.appVersion(ctx, env)
	must(j.t, err)
	if v != version {
		j.t.Fatalf("%s's URL shows version %q, want %s", env, v, version)
	}
	j.shot(ctx, env+"-app-"+version)
}

// promote clicks "Promote to <to>" on from's page and returns the
// promotion's path; an unprotected target is waited for until deployed.
func (j *journey) promote(from, to string) string {
	j.t.Helper()
	j.envPage(from)
	j.see(j.admin, "promote", "Promote to "+to)
	j.step("promote "+from+" to "+to, func() { must(j.t, ClickAndLoad(j.admin, TestID("promote"))) })
	path := j.location(j.admin)
	if !strings.HasPrefix(path, "/promotions/") {
		Screenshot(j.t, j.admin, "promote-went-elsewhere")
		j.t.Fatalf("promoting %s to %s led to %s", from, to, path)
	}
	if to != "production" {
		j.waitPromotion(j.admin, path, "deployed")
		j.shot(j.admin, to+"-promotion-deployed")
	}
	return path
}

// waitPromotion reloads a promotion's page until it shows status.
func (j *journey) waitPromotion(ctx context.Context, path, status string) {
	j.t.Helper()
	Until(j.t, "promotion "+path+" is "+status, deployWait, pollEvery, func() (bool, string, error) {
		if err := Visit(ctx, j.p.URL+path); err != nil {
			return false, "", err
		}
		s, err := TextOf(ctx, "promotion-status")
		if strings.Contains(s, "failed") || strings.Contains(s, "rejected") {
			reason, _ := TextOf(ctx, "status-reason")
			return false, "", &stepError{"promotion " + path + " ended " + s + ": " + reason}
		}
		return strings.Contains(s, status), s, err
	})
}

// waitLead asserts a fresh promotion to production is pending and says it
// waits for a lead's approval.
func (j *journey) waitLead(path, leadName, leadPassword string) {
	j.t.Helper()
	j.see(j.admin, "promotion-status", "pending")
	j.see(j.admin, "approval-count", "0 of 1")
	reason := j.text(j.admin, "waiting")
	if !strings.Contains(reason, "approval from lead") {
		j.t.Fatalf("the pending promotion gives no approval reason: %q", reason)
	}
	j.shot(j.admin, "production-waits-for-approval")
}

// approve reviews the promotion from the lead's inbox and approves it.
func (j *journey) approve(lead context.Context, path string) {
	j.t.Helper()
	id := strings.TrimPrefix(path, "/promotions/")
	must(j.t, Visit(lead, j.p.URL+"/approvals"))
	Until(j.t, "the lead's inbox lists promotion "+id, 30*time.Second, pollEvery, func() (bool, string, error) {
		ok, err := HasTestID(lead, "review-"+id)
		if !ok && err == nil {
			err = Visit(lead, j.p.URL+"/approvals")
		}
		return ok, "not listed", err
	})
	j.shot(lead, "lead-inbox")
	j.step("the lead reviews promotion "+id, func() { must(j.t, ClickAndLoad(lead, TestID("review-"+id))) })
	must(j.t, WaitTestID(lead, "decide-form"))
	must(j.t, Fill(lead, "#f-comment", "Load test passed in staging; ship it."))
	j.shot(lead, "lead-reviews-promotion")
	j.step("the lead approves", func() { must(j.t, ClickAndLoad(lead, TestID("approve"))) })
}

// loadTest runs the demo's staging plan from the load tests page and waits
// for it to pass.
func (j *journey) loadTest() {
	j.t.Helper()
	must(j.t, Visit(j.admin, j.p.URL+"/loadtests"))
	run := TestID("run-Staging smoke test")
	j.step("run the staging load test", func() { must(j.t, ClickAndLoad(j.admin, run)) })
	path := j.location(j.admin)
	if !strings.HasPrefix(path, "/loadtests/") {
		Screenshot(j.t, j.admin, "loadtest-went-elsewhere")
		j.t.Fatalf("running the plan led to %s", path)
	}
	j.shot(j.admin, "loadtest-running")
	Until(j.t, "load test "+path+" passes", loadTestWait, 2*pollEvery, func() (bool, string, error) {
		if err := Visit(j.admin, j.p.URL+path); err != nil {
			return false, "", err
		}
		s, err := TextOf(j.admin, "run-status")
		if strings.Contains(s, "failed") || strings.Contains(s, "error") || strings.Contains(s, "canceled") {
			Screenshot(j.t, j.admin, "loadtest-failed")
			return false, "", &stepError{"load test " + path + " ended " + s}
		}
		return strings.Contains(s, "passed"), s, err
	})
	j.shot(j.admin, "loadtest-passed")
}

// stepError ends an Until at once with a message.
type stepError struct{ msg string }

func (e *stepError) Error() string { return e.msg }

// stepLink is the link inside one of the guide's steps.
func stepLink(stepID string) chromedp.CSS {
	return chromedp.CSS(`[data-testid="` + stepID + `"] a`)
}

// lastLine is the last non-empty line of s, for failure messages.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
