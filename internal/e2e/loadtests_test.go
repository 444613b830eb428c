package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// waitRunResult waits on a run page until the server drew its result (the
// page reloads itself when the live feed ends).
func waitRunResult(t *testing.T, ctx context.Context) {
	t.Helper()
	// The page reloads itself when the feed ends: wait for the reloaded
	// document to be complete, so later queries do not race its parsing.
	const done = `document.readyState === "complete" && document.querySelector('[data-testid="checks"]') !== null`
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](done)); err == nil && ok {
			must(t, WaitTestID(ctx, "run-status"))
			return
		}
		if ok, err := HasTestID(ctx, "no-verdict"); err == nil && ok {
			msg, _ := TextOf(ctx, "run-error")
			Screenshot(t, ctx, "run-without-verdict")
			t.Fatalf("the run ended without a verdict: %s", msg)
		}
	}
	Screenshot(t, ctx, "run-stuck")
	t.Fatal("the run page never showed a result")
}

// postFromPage sends a same-origin form POST with the page's CSRF token,
// as a user tampering with the page would, and returns the status.
func postFromPage(t *testing.T, ctx context.Context, path string) int64 {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const tok = document.querySelector('input[name="_csrf"]');
		const body = new URLSearchParams();
		if (tok) body.set("_csrf", tok.value);
		const r = await fetch(%q, {method: "POST", body, redirect: "manual"});
		return r.status;
	})()`, path)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int64](js, chromedp.EvalAwaitPromise))
	must(t, err)
	return status
}

// TestBrowserQALoadTestsStagingAndComparesRuns: staging runs a release; a
// QA user opens it, starts a plan from its page, fixes the form's errors
// (a bad target line, a rate above the cap), runs the plan, watches the
// live chart and progress, reads the verdict and metrics, runs it again
// and compares the two runs. A developer sees the runs but cannot start
// one, from the page or by posting.
func TestBrowserQALoadTestsStagingAndComparesRuns(t *testing.T) {
	p := StartPortal(t, Options{})
	_, v2 := seedDeployable(t, p)
	addUser(t, p, "quinn", "qa", "quinn-password-123")
	addUser(t, p, "dev1", "developer", "dev1-password-123")

	// Every browser starts before the first screenshot: NewBrowser empties
	// the test's screenshot folder.
	admin, qa, dev := NewBrowser(t), NewBrowser(t), NewBrowser(t)
	must(t, Login(admin, p, "admin", p.AdminPassword))
	deployFromPage(t, admin, p.URL+"/projects/shop/environments/staging", v2)

	must(t, Login(qa, p, "quinn", "quinn-password-123"))
	must(t, Visit(qa, p.URL+"/environments"))
	must(t, WaitTestID(qa, "env-project-shop"))
	must(t, ClickAndLoad(qa, chromedp.CSS(`[data-testid="env-project-shop"] [data-testid="env-card-staging"] a[href$="/environments/staging"]`)))
	must(t, WaitTestID(qa, "env-loadtest"))
	Screenshot(t, qa, "staging-offers-load-test")
	must(t, ClickAndLoad(qa, TestID("env-loadtest")))
	must(t, WaitTestID(qa, "plan-form"))
	env, err := chromedp.Run(qa, chromedp.Evaluate[string](`document.querySelector("#f-environment").selectedOptions[0].textContent`))
	must(t, err)
	if !strings.Contains(env, "staging") {
		t.Fatalf("the form opened from staging selects %q", strings.TrimSpace(env))
	}
	Screenshot(t, qa, "new-plan-form")

	// Bad input: a target line the parser refuses, a rate above the cap.
	must(t, Fill(qa, "#f-name", "smoke"))
	must(t, Fill(qa, "#f-targets", "GET /\nGETT /oops"))
	must(t, Fill(qa, "#f-rate", "5000"))
	must(t, ClickAndLoad(qa, TestID("save-plan")))
	targetsErr, err := TextOf(qa, "error-targets")
	must(t, err)
	if !strings.Contains(targetsErr, "line 2") {
		t.Errorf("the targets error does not name line 2: %q", targetsErr)
	}
	rateErr, err := TextOf(qa, "error-rate")
	must(t, err)
	if !strings.Contains(rateErr, "at most 1000") {
		t.Errorf("the rate error does not name the cap: %q", rateErr)
	}
	Screenshot(t, qa, "plan-form-errors")

	// A valid plan, saved and run at once.
	must(t, Fill(qa, "#f-targets", "GET /\nGET /healthz"))
	must(t, Fill(qa, "#f-rate", "20"))
	must(t, Fill(qa, "#f-duration", "6s"))
	must(t, Fill(qa, "#f-p95_ms", "500"))
	must(t, Fill(qa, "#f-min_success_ratio", "0.99"))
	must(t, ClickAndLoad(qa, TestID("save-run-plan")))
	must(t, WaitTestID(qa, "live-chart"))
	first, err := Location(qa)
	must(t, err)

	// Live: the progress bar and the chart move while the run goes on.
	var progress int64
	testkit.Eventually(t, 60*time.Second, func() bool {
		v, err := chromedp.Run(qa, chromedp.Evaluate[string](`(document.getElementById("lt-progress")||{getAttribute:()=>"0"}).getAttribute("aria-valuenow")`))
		if err != nil {
			return false
		}
		progress, _ = strconv.ParseInt(v, 10, 64)
		return progress >= 2
	}, "the progress bar moves")
	points, err := chromedp.Run(qa, chromedp.Evaluate[int64](`document.querySelectorAll("#lt-chart .u-over").length`))
	must(t, err)
	if points != 1 {
		t.Errorf("the live chart was not drawn (%d plot areas)", points)
	}
	elapsed, err := TextOf(qa, "elapsed")
	must(t, err)
	if !strings.HasPrefix(elapsed, "Elapsed") || !strings.Contains(elapsed, "of 6s") {
		t.Errorf("the progress text reads %q", elapsed)
	}
	Screenshot(t, qa, "run-live")

	waitRunResult(t, qa)
	status, err := TextOf(qa, "run-status")
	must(t, err)
	if !strings.Contains(status, "passed") {
		t.Fatalf("the run ended %q, want passed", status)
	}
	checks, err := TextOf(qa, "checks")
	must(t, err)
	for _, want := range []string{"p95 latency", "success ratio", "ran to the end"} {
		if !strings.Contains(checks, want) {
			t.Errorf("the verdict lacks the %q check: %q", want, checks)
		}
	}
	lat, err := TextOf(qa, "latencies")
	must(t, err)
	for _, want := range []string{"p50", "p95", "p99", "max"} {
		if !strings.Contains(lat, want) {
			t.Errorf("the latency table lacks %s: %q", want, lat)
		}
	}
	must(t, WaitTestID(qa, "histogram"))
	// The plan's thresholds are drawn as lines on the chart, named in its
	// legend: p95 500 ms and a 1 % error limit (success ratio 0.99).
	legend, err := chromedp.Run(qa, chromedp.Evaluate[string](`[...document.querySelectorAll("#lt-chart .u-legend .u-series")].map(e => e.textContent.trim()).join("|")`))
	must(t, err)
	for _, want := range []string{"p95 limit 500 ms", "error limit 1 %"} {
		if !strings.Contains(legend, want) {
			t.Errorf("the result chart has no %q line; legend %q", want, legend)
		}
	}
	if n, err := chromedp.Run(qa, chromedp.Evaluate[string](`document.getElementById("lt-chart").dataset.thresholdLines`)); err != nil || n != "2" {
		t.Errorf("the result chart drew %q threshold lines (%v), want 2", n, err)
	}
	perTarget, err := TextOf(qa, "per-target")
	must(t, err)
	if !strings.Contains(perTarget, "GET /healthz") || !strings.Contains(perTarget, "GET /") {
		t.Errorf("the per-target table lacks the plan's targets: %q", perTarget)
	}
	Screenshot(t, qa, "run-result")

	// Again, then compare the two.
	must(t, ClickAndLoad(qa, TestID("rerun")))
	must(t, WaitTestID(qa, "live-chart"))
	second, err := Location(qa)
	must(t, err)
	if second == first {
		t.Fatal("running again stayed on the first run")
	}
	waitRunResult(t, qa)
	must(t, WaitTestID(qa, "compare-form"))
	Screenshot(t, qa, "second-run-result")
	must(t, ClickAndLoad(qa, chromedp.CSS(`[data-testid="compare-form"] button[type="submit"]`)))
	must(t, WaitTestID(qa, "deltas"))
	deltas, err := TextOf(qa, "deltas")
	must(t, err)
	for _, want := range []string{"p95", "throughput", "Δ"} {
		if !strings.Contains(strings.ToLower(deltas), strings.ToLower(want)) {
			t.Errorf("the comparison lacks %q: %q", want, deltas)
		}
	}
	// Both runs' charts overlaid on one, the older (A) first.
	must(t, WaitTestID(qa, "compare-chart"))
	series, err := chromedp.Run(qa, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#lt-compare-chart .u-legend .u-series")].map(e => e.textContent.trim()).filter(s => s !== "second")`))
	must(t, err)
	firstRef, secondRef := "#"+path.Base(first), "#"+path.Base(second)
	if len(series) != 4 || !strings.HasPrefix(series[0], "A "+firstRef) || !strings.HasPrefix(series[2], "B "+secondRef) {
		t.Errorf("the overlaid chart's series are %q, want A %s first then B %s", series, firstRef, secondRef)
	}
	if n, err := chromedp.Run(qa, chromedp.Evaluate[int64](`document.querySelectorAll("#lt-compare-chart .u-over").length`)); err != nil || n != 1 {
		t.Errorf("the comparison has %d plot areas (%v), want one chart", n, err)
	}
	compareURL, err := Location(qa)
	must(t, err)
	Screenshot(t, qa, "compare")

	// A run where one target fails (it answers after the timeout): the
	// report says which target, how often and with what error.
	failing := apiRun(t, p, `{"environment":"staging","targets":"GET /healthz\nGET /slow?ms=1500","rate":4,"duration":"3s","timeout":"300ms"}`)
	must(t, Visit(qa, p.URL+"/loadtests/"+failing))
	waitRunResult(t, qa)
	rows, err := chromedp.Run(qa, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="per-target"] tbody tr')].map(r => r.dataset.target + " => " + r.textContent.replace(/\s+/g, " "))`))
	must(t, err)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "GET /healthz =>") || strings.Contains(rows[0], "Client.Timeout") ||
		!strings.HasPrefix(rows[1], "GET /slow?ms=1500 =>") || !strings.Contains(rows[1], "Client.Timeout") || !strings.Contains(rows[1], "100.0 %") {
		t.Errorf("per-target rows %q: want /healthz clean and /slow failing every request with a timeout", rows)
	}
	Screenshot(t, qa, "per-target-errors")

	// A run whose process died mid-attack (see the jobs package's kill -9
	// test) shows why it has no verdict, and the seconds it measured.
	interrupted := seedInterruptedRun(t, p)
	must(t, Visit(qa, p.URL+"/loadtests/"+interrupted))
	must(t, WaitTestID(qa, "no-verdict"))
	reason, err := TextOf(qa, "run-error")
	must(t, err)
	if !strings.Contains(reason, "stopped (restart or crash)") {
		t.Errorf("the interrupted run explains %q", reason)
	}
	must(t, WaitTestID(qa, "result-chart"))
	if n, err := chromedp.Run(qa, chromedp.Evaluate[int64](`document.querySelectorAll("#lt-chart .u-over").length`)); err != nil || n != 1 {
		t.Errorf("the interrupted run's chart was not drawn (%d, %v)", n, err)
	}
	Screenshot(t, qa, "interrupted-run")

	// A developer sees the runs, not the buttons, and is refused a run.
	must(t, Login(dev, p, "dev1", "dev1-password-123"))
	must(t, Visit(dev, p.URL+"/loadtests"))
	must(t, WaitTestID(dev, "plans-table"))
	for _, id := range []string{"run-smoke", "new-plan"} {
		if ok, err := HasTestID(dev, id); err != nil || ok {
			t.Errorf("the developer's load-test page has %s (%v)", id, err)
		}
	}
	Screenshot(t, dev, "developer-list")
	must(t, Visit(dev, first))
	must(t, WaitTestID(dev, "checks"))
	for _, id := range []string{"rerun", "cancel-run"} {
		if ok, err := HasTestID(dev, id); err != nil || ok {
			t.Errorf("the developer's run page has %s (%v)", id, err)
		}
	}
	Screenshot(t, dev, "developer-run")
	planID := planOf(t, admin, p)
	if got := postFromPage(t, dev, "/loadtests/plans/"+planID+"/run"); got != http.StatusForbidden {
		t.Errorf("a developer's POST to run the plan answered %d, want 403", got)
	}
	tok := p.CLI("token", "create", "--user", "dev1")
	if tok.ExitCode != 0 {
		t.Fatalf("token create: %s", tok)
	}
	req, err := http.NewRequest(http.MethodPost, p.URL+"/api/v1/projects/shop/loadtests", strings.NewReader(`{"plan_id":`+planID+`}`))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.Stdout))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a developer's API run answered %d %s, want 403", resp.StatusCode, body)
	}

	// On a phone the per-target table and the overlaid chart stay inside
	// the page (the table scrolls in its own box).
	phone(t, qa)
	for name, u := range map[string]string{"phone-per-target": p.URL + "/loadtests/" + failing, "phone-compare": compareURL} {
		must(t, Visit(qa, u))
		if fit := evalJS[string](t, qa, overflowJS); fit != "ok" {
			t.Errorf("%s does not fit a phone: %s", name, fit)
		}
		Screenshot(t, qa, name)
	}
}

// planOf returns the ID of the only plan, read from the list page's edit
// link as an admin (signed in on ctx) sees it.
func planOf(t *testing.T, ctx context.Context, p *Portal) string {
	t.Helper()
	must(t, Visit(ctx, p.URL+"/loadtests"))
	must(t, WaitTestID(ctx, "plan-smoke"))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="plan-smoke"] a[href*="/edit"]').getAttribute("href")`))
	must(t, err)
	id := strings.TrimSuffix(strings.TrimPrefix(href, "/loadtests/plans/"), "/edit")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		t.Fatalf("edit link %q", href)
	}
	return id
}

// seedInterruptedRun records a run of the smoke plan that recovery ended
// as interrupted after four seconds, and returns its ID.
func seedInterruptedRun(t *testing.T, p *Portal) string {
	t.Helper()
	ctx := context.Background()
	store, err := models.Open(ctx, models.Config{DataDir: p.DataDir})
	must(t, err)
	defer store.Close()
	env, err := store.EnvironmentByName(ctx, "shop", "staging")
	must(t, err)
	runs, err := store.LoadTests(ctx, models.LoadTestFilter{Limit: 1})
	must(t, err)
	if len(runs) == 0 {
		t.Fatal("no run to copy the spec from")
	}
	var ws []string
	for i := range 4 {
		// Latencies in milliseconds, as the worker writes them.
		ws = append(ws, fmt.Sprintf(`{"second":%d,"requests":20,"successes":20,"throughput":20,"p50":%.1f,"p95":4,"p99":9}`, i, 1.5+float64(i)/10))
	}
	started, finished := time.Now().Add(-time.Minute).UTC(), time.Now().Add(-30*time.Second).UTC()
	l := &models.LoadTest{ProjectID: env.ProjectID, PlanID: runs[0].PlanID, EnvironmentID: env.ID, ReleaseID: runs[0].ReleaseID,
		ArtifactSHA256: runs[0].ArtifactSHA256, BaseURL: runs[0].BaseURL, Spec: runs[0].Spec, Duration: runs[0].Duration,
		Status: models.LoadTestInterrupted, Verdict: "fail", Windows: "[" + strings.Join(ws, ",") + "]",
		Error: jobs.ReasonLoadTestWorkerDied, CreatedByID: runs[0].CreatedByID, CreatedAt: started, StartedAt: &started, FinishedAt: &finished}
	must(t, testkit.InsertFixture(ctx, store, l))
	return strconv.FormatInt(l.ID, 10)
}

// apiRun starts a run through the API with a QA token and returns its ID.
func apiRun(t *testing.T, p *Portal, body string) string {
	t.Helper()
	tok := p.CLI("token", "create", "--user", "quinn")
	if tok.ExitCode != 0 {
		t.Fatalf("token create: %s", tok)
	}
	req, err := http.NewRequest(http.MethodPost, p.URL+"/api/v1/projects/shop/loadtests", strings.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.Stdout))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out struct {
		ID int64 `json:"id"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &out) != nil || out.ID == 0 {
		t.Fatalf("API run answered %d %s", resp.StatusCode, raw)
	}
	return strconv.FormatInt(out.ID, 10)
}
