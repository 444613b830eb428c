package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pipelineRepo makes a real repository whose main branch holds
// .slipway.yml with the given text, and returns its path.
func pipelineRepo(t *testing.T, pipeline string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com"}
		if args[0] != "init" {
			cmd.Dir = dir
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("init", "--quiet", "--initial-branch=main", dir)
	must(t, os.WriteFile(filepath.Join(dir, ".slipway.yml"), []byte(pipeline), 0o644))
	run("add", ".slipway.yml")
	run("commit", "--quiet", "-m", "pipeline")
	return dir
}

// apiClient calls the portal's JSON API with an admin token.
type apiClient struct {
	t     *testing.T
	p     *Portal
	token string
}

func newAPIClient(t *testing.T, p *Portal) *apiClient {
	t.Helper()
	tok := p.CLI("token", "create", "--user", "admin")
	if tok.ExitCode != 0 {
		t.Fatalf("token create: %s", tok)
	}
	return &apiClient{t: t, p: p, token: strings.TrimSpace(tok.Stdout)}
}

// do sends body (JSON-encoded unless nil) and decodes the answer into out
// unless out is nil; it fails the test on any status but want.
func (a *apiClient) do(method, path string, body, out any, want int) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		must(a.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.p.URL+path, r)
	must(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	must(a.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		must(a.t, json.Unmarshal(raw, out))
	}
}

// startPipelineBuild links a repository holding pipeline as project slug
// and starts a build of main; it returns the build's ID.
func startPipelineBuild(t *testing.T, a *apiClient, slug, pipeline string) int64 {
	t.Helper()
	repo := pipelineRepo(t, pipeline)
	a.do(http.MethodPost, "/api/v1/projects", map[string]any{"name": slug, "slug": slug, "repo_url": repo, "default_branch": "main"}, nil, http.StatusCreated)
	var b struct {
		ID int64 `json:"id"`
	}
	a.do(http.MethodPost, "/api/v1/projects/"+slug+"/builds", map[string]any{"ref": "main"}, &b, http.StatusCreated)
	return b.ID
}

// buildStatus reads a build's status from the API.
func (a *apiClient) buildStatus(id int64) string {
	a.t.Helper()
	var b struct {
		Status string `json:"status"`
	}
	a.do(http.MethodGet, "/api/v1/builds/"+strconv.FormatInt(id, 10), nil, &b, http.StatusOK)
	return b.Status
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(cctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// pageMarkJS marks the current document; a navigation or reload loses
// the mark, so checking it later proves the page updated in place.
const pageMarkJS = `window.__samePage = "kept"`

func samePage(t *testing.T, ctx context.Context) bool {
	t.Helper()
	return evalJS[bool](t, ctx, `window.__samePage === "kept"`)
}

// slowPipeline runs long enough to open its page while it runs, prints a
// few lines, and keeps an artifact (so the finished build offers Deploy).
const slowPipeline = `build:
  - name: work
    run: |
      echo "starting"
      sleep 8
      echo "v1" > version.txt
      echo "finished work"
artifact:
  paths: [version.txt]
app:
  run: ./version.txt
`

// TestBrowserBuildPageUpdatesWhenTheBuildEnds opens a running build and
// lets it finish: the title's status, the Cancel button, the Run card and
// the Deploy card follow without a reload, the log keeps its place, and
// the page shows the build's last line.
func TestBrowserBuildPageUpdatesWhenTheBuildEnds(t *testing.T) {
	p := StartPortal(t, Options{})
	a := newAPIClient(t, p)
	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	id := startPipelineBuild(t, a, "slow", slowPipeline)
	buildURL := p.URL + "/builds/" + strconv.FormatInt(id, 10)

	Until(t, "the build runs", 2*time.Minute, 100*time.Millisecond, func() (bool, string, error) {
		s := a.buildStatus(id)
		return s == "running", "status " + s, nil
	})
	must(t, Visit(ctx, buildURL))
	must(t, WaitTestID(ctx, "cancel-build"))
	status, err := TextOf(ctx, "build-status")
	must(t, err)
	if !strings.Contains(status, "running") {
		t.Fatalf("the build page opened with status %q; the build finished before the page opened", status)
	}
	if ok, _ := HasTestID(ctx, "deploy-buttons"); ok {
		t.Fatal("a running build offers Deploy")
	}
	Screenshot(t, ctx, "build-running")
	_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](pageMarkJS))
	must(t, err)

	Until(t, "the page shows the build succeeded", 60*time.Second, 100*time.Millisecond, func() (bool, string, error) {
		s, err := TextOf(ctx, "build-status")
		return strings.Contains(s, "succeeded"), "status " + s, err
	})
	if !samePage(t, ctx) {
		t.Fatal("the page reloaded or navigated to show the end of the build")
	}
	Until(t, "the Deploy card appears", 15*time.Second, 100*time.Millisecond, func() (bool, string, error) {
		ok, err := HasTestID(ctx, "deploy-buttons")
		return ok, fmt.Sprintf("deploy-buttons present: %v", ok), err
	})
	if ok, err := HasTestID(ctx, "cancel-build"); err != nil || ok {
		t.Fatalf("the Cancel button is still there after the build ended (%v)", err)
	}
	for _, check := range []struct{ what, js string }{
		{"the log shows the last line", `document.querySelector("[data-log-box]").textContent.includes("build succeeded")`},
		{"the viewer's steps say succeeded", `Array.from(document.querySelectorAll("details.log-step .log-step-meta"), (m) => m.textContent).every((t) => t.startsWith("succeeded"))`},
		{"the viewer ended", `document.querySelector("[data-logview]").dataset.ended === "true"`},
		{"the step table says succeeded", `document.querySelector("[data-testid=step-work]").textContent.includes("succeeded")`},
		{"the artifact card shows the artifact", `document.querySelector("[data-testid=artifact-sha]") !== null`},
		{"still the same page", `window.__samePage === "kept"`},
	} {
		if !evalJS[bool](t, ctx, check.js) {
			t.Errorf("%s: false", check.what)
		}
	}
	Screenshot(t, ctx, "build-finished-in-place")
}

// longLogLines is how many lines the long-log builds print.
const longLogLines = 200_000

// longPipeline prints longLogLines numbered lines; with pause it prints
// the first half, waits pause seconds (the test opens the viewer then)
// and prints the second half.
func longPipeline(pause int) string {
	half := longLogLines / 2
	run := fmt.Sprintf("seq 1 %d | sed 's/^/output line /'", longLogLines)
	if pause > 0 {
		run = fmt.Sprintf("seq 1 %d | sed 's/^/output line /'\n      sleep %d\n      seq %d %d | sed 's/^/output line /'", half, pause, half+1, longLogLines)
	}
	return "build:\n  - name: print\n    run: |\n      " + run + "\n"
}

// logLineCount is how many lines the build's stored log has.
func (a *apiClient) logLineCount(id int64) int {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.p.URL+"/api/v1/builds/"+strconv.FormatInt(id, 10)+"/log", nil)
	must(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	must(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(a.t, err)
	return bytes.Count(b, []byte("\n"))
}

// lastLineVisibleJS reports whether line n is in the viewer's DOM and
// inside the box's visible area.
func lastLineVisibleJS(n int) string {
	return fmt.Sprintf(`(() => {
	const b = document.querySelector("[data-log-box]"), l = document.getElementById("L%d");
	if (!b || !l || !document.querySelector(".log-js")) return false;
	const r = l.getBoundingClientRect(), br = b.getBoundingClientRect();
	return r.height > 0 && r.bottom <= br.bottom + 1 && r.top >= br.top - 1;
})()`, n)
}

// navTiming describes where the page's opening went: the server's answer,
// the document parsed, and the load event, in ms from navigation start.
func navTiming(t *testing.T, ctx context.Context) string {
	return evalJS[string](t, ctx, `(() => { const n = performance.getEntriesByType("navigation")[0]; if (!n) return "no timing";
		return "response " + Math.round(n.responseEnd) + " ms, DOM ready " + Math.round(n.domContentLoadedEventEnd) + " ms, load " + Math.round(n.loadEventEnd) + " ms"; })()`)
}

// TestBrowserLongLogReachesItsEnd measures how long a viewer takes to
// show the last line of a 200,000-line build log: opened on the finished
// log, and opened while the build ran, half-way through. It reports the
// figures (FIGURE lines) and fails only past a generous bound: a viewer
// that never catches up, or that needs minutes.
func TestBrowserLongLogReachesItsEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("prints two 200,000-line logs")
	}
	const bound = 2 * time.Minute
	p := StartPortal(t, Options{})
	a := newAPIClient(t, p)
	ctx := NewBrowserFor(t, 8*time.Minute)
	must(t, Login(ctx, p, "admin", p.AdminPassword))

	waitStatus := func(id int64, want string, d time.Duration) time.Time {
		Until(t, fmt.Sprintf("build %d %s", id, want), d, 50*time.Millisecond, func() (bool, string, error) {
			s := a.buildStatus(id)
			if s == "failed" || s == "canceled" {
				return false, "", fmt.Errorf("build %d %s", id, s)
			}
			return s == want, "status " + s, nil
		})
		return time.Now()
	}
	// waitLast polls the page until the log's last line is in view and
	// returns when it was first seen.
	waitLast := func(what string, last int) time.Time {
		Until(t, what, bound, 20*time.Millisecond, func() (bool, string, error) {
			ok := evalJS[bool](t, ctx, lastLineVisibleJS(last))
			return ok, evalJS[string](t, ctx, `(document.querySelector("[data-log-range]") || {}).textContent || "no viewer"`), nil
		})
		return time.Now()
	}

	// A finished log.
	done := startPipelineBuild(t, a, "long", longPipeline(0))
	waitStatus(done, "succeeded", 3*time.Minute)
	last := a.logLineCount(done)
	if last < longLogLines {
		t.Fatalf("the finished build's log has %d lines, want at least %d", last, longLogLines)
	}
	opened := time.Now()
	must(t, Visit(ctx, p.URL+"/builds/"+strconv.FormatInt(done, 10)))
	seen := waitLast("the finished log shows its last line", last)
	t.Logf("FIGURE finished %d-line log: page open to last line visible %s (%s)", last, seen.Sub(opened).Round(time.Millisecond), navTiming(t, ctx))
	Screenshot(t, ctx, "finished-long-log")

	// A log opened half-way through its build.
	mid := startPipelineBuild(t, a, "long-mid", longPipeline(6))
	Until(t, "the build prints its first half", 3*time.Minute, 100*time.Millisecond, func() (bool, string, error) {
		n := a.logLineCount(mid)
		return n >= longLogLines/2, fmt.Sprintf("%d lines", n), nil
	})
	opened = time.Now()
	must(t, Visit(ctx, p.URL+"/builds/"+strconv.FormatInt(mid, 10)))
	if live := evalJS[string](t, ctx, `document.querySelector("[data-logview]").dataset.live`); live != "true" {
		t.Fatalf("the viewer opened on a finished log (data-live=%s); the build's pause was too short to open it mid-build", live)
	}
	atOpen := evalJS[int](t, ctx, `+document.querySelector("[data-logview]").dataset.total`)
	var finished time.Time
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if s := a.buildStatus(mid); s == "succeeded" || s == "failed" {
				finished = time.Now()
				return
			}
		}
	}()
	<-ended
	if finished.IsZero() {
		t.Fatal("the mid-build log's build did not finish")
	}
	last = a.logLineCount(mid)
	seen = waitLast("the mid-build viewer shows the last line", last)
	ended2 := evalJS[bool](t, ctx, `document.querySelector("[data-logview]").dataset.ended === "true"`)
	jumps := evalJS[string](t, ctx, `document.querySelector("[data-logview]").dataset.caughtUp || "0"`)
	t.Logf("FIGURE viewer opened mid-build at line %d of %d: page open to last line visible %s; build finished to last line visible %s (viewer ended: %v, jumped to the tail %s times)",
		atOpen, last, seen.Sub(opened).Round(time.Millisecond), seen.Sub(finished).Round(time.Millisecond), ended2, jumps)
	Screenshot(t, ctx, "mid-build-long-log")
}
