package e2e

import (
	"bytes"
	"context"
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

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// seedDeployable gives the portal's database a project (with its default
// environments) and two succeeded builds whose artifacts hold the jobs
// package's test app saying v1 and v2. It returns the builds' IDs. The v1
// app waits appDelay before it listens, so its deploy runs long enough to
// watch its log arrive live.
func seedDeployable(t *testing.T, p *Portal) (int64, int64) {
	t.Helper()
	ctx := context.Background()
	root, err := ModuleRoot()
	must(t, err)
	bin := filepath.Join(t.TempDir(), "app")
	if out, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, filepath.Join(root, "jobs", "testdata", "app")).CombinedOutput(); err != nil {
		t.Fatalf("build the test app: %v\n%s", err, out)
	}
	store, err := models.Open(ctx, models.Config{DataDir: p.DataDir})
	must(t, err)
	defer store.Close()
	arts, err := artifact.NewStore(filepath.Join(p.DataDir, "artifacts"))
	must(t, err)
	proj := &models.Project{Slug: "shop", Name: "Shop", RepoURL: "https://example.invalid/shop.git", DefaultBranch: "main",
		WebhookSecretSealed: []byte("x"), NextBuildNumber: 3}
	must(t, testkit.InsertFixture(ctx, store, proj))
	must(t, store.CreateDefaultEnvironments(ctx, proj.ID, "main"))
	var ids []int64
	for i, v := range []string{"v1", "v2"} {
		run := "./bin/app"
		if v == "v1" {
			run += " --start-delay=" + appDelay.String()
		}
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
		raw, err := os.ReadFile(bin)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, "bin", "app"), raw, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "version.txt"), []byte(v), 0o644))
		var buf bytes.Buffer
		must(t, artifact.Pack(dir, []string{"bin", "version.txt"}, &buf))
		info, err := arts.Put(ctx, &buf)
		must(t, err)
		sha := info.SHA256
		b := &models.Build{ProjectID: proj.ID, Number: int64(i + 1), Ref: "main", RefType: "branch", CommitSHA: strings.Repeat(strconv.Itoa(i+1), 40),
			CommitMessage: "Ship " + v, Trigger: "manual", Status: models.BuildSucceeded, ArtifactSHA256: &sha,
			PipelineYAML: "build:\n  - run: go build -o bin/app .\nartifact:\n  paths: [bin, version.txt]\napp:\n  run: " + run + "\n  health: /healthz\n"}
		must(t, testkit.InsertFixture(ctx, store, &models.Artifact{SHA256: sha, Size: info.Size}, b))
		ids = append(ids, b.ID)
	}
	return ids[0], ids[1]
}

// appDelay is how long the v1 app waits before it listens.
const appDelay = 4 * time.Second

// envBody fetches the environment's URL as shown on its page.
func envBody(t *testing.T, ctx context.Context) string {
	t.Helper()
	url, err := TextOf(ctx, "env-url")
	must(t, err)
	resp, err := http.Get(url + "/")
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// deployFromPage picks build id on the environment page, deploys it, and
// waits on the release page until the release is live.
func deployFromPage(t *testing.T, ctx context.Context, envURL string, id int64) {
	t.Helper()
	must(t, Visit(ctx, envURL))
	must(t, WaitTestID(ctx, "deploy-form"))
	_, err := chromedp.Run(ctx, chromedp.SetValue(chromedp.ID("deploy-build"), strconv.FormatInt(id, 10)))
	must(t, err)
	must(t, ClickAndLoad(ctx, TestID("deploy-submit")))
	waitStatus(t, ctx, "live")
}

// waitStatus waits until the release page shows status (it reloads itself
// when the deploy ends).
func waitStatus(t *testing.T, ctx context.Context, status string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, _ = TextOf(ctx, "release-status")
		if strings.Contains(got, status) {
			return
		}
	}
	Screenshot(t, ctx, "release-stuck")
	t.Fatalf("the release page shows %q, want %q", got, status)
}

// viewerJS reports the release page's log viewer as "live|lines|text":
// whether the page was rendered while the deploy ran (data-live, which
// only a reload changes), how many lines the viewer shows, and their text.
const viewerJS = `(() => {
	const v = document.querySelector("[data-testid=log-viewer]");
	if (!v) return "none|0|";
	const lines = v.querySelectorAll(".log-line");
	return v.dataset.live + "|" + lines.length + "|" + Array.from(lines, (l) => l.textContent).join("\n");
})()`

// watchLiveLog waits on a release page rendered while its deploy ran
// until the viewer shows, without a reload, lines that arrived over its
// websocket: more than the page held when it loaded, through the
// "healthy" line the deploy prints after the app's start delay.
func watchLiveLog(t *testing.T, ctx context.Context) {
	t.Helper()
	read := func() (live bool, n int, text string) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](viewerJS))
		must(t, err)
		parts := strings.SplitN(v, "|", 3)
		n, _ = strconv.Atoi(parts[1])
		return parts[0] == "true", n, parts[2]
	}
	live, first, _ := read()
	if !live {
		Screenshot(t, ctx, "release-not-live")
		t.Fatalf("the release page opened after the deploy ended (%d lines); the app's start delay of %s was too short to watch it", first, appDelay)
	}
	shot := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		live, n, text := read()
		if !live {
			t.Fatalf("the page reloaded before the viewer showed the healthy line live; it had:\n%s", text)
		}
		if !shot && n > 0 {
			Screenshot(t, ctx, "deploy-release-log-running")
			shot = true
		}
		if n > first && strings.Contains(text, "healthy: pid") {
			return
		}
	}
	t.Fatal("the viewer never showed the deploy's healthy line")
}

func TestBrowserDeployToDevSeeItLiveRollBack(t *testing.T) {
	p := StartPortal(t, Options{})
	b1, b2 := seedDeployable(t, p)
	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	envURL := p.URL + "/projects/shop/environments/dev"

	// Deploy build 1 from its page's "Deploy to…" box and watch the
	// release's log stream in the viewer.
	must(t, Visit(ctx, p.URL+"/builds/"+strconv.FormatInt(b1, 10)))
	must(t, WaitTestID(ctx, "deploy-buttons"))
	Screenshot(t, ctx, "deploy-build-page")
	must(t, ClickAndLoad(ctx, TestID("deploy-to-dev")))
	if loc, err := Location(ctx); err != nil || !strings.Contains(loc, "/releases/") {
		t.Fatalf("the Deploy to dev button led to %q (%v), want the new release's page", loc, err)
	}
	_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](pageMarkJS))
	must(t, err)
	watchLiveLog(t, ctx)
	waitStatus(t, ctx, "live")
	// The title's status follows the log's; when the deploy ends the page
	// refreshes its status and details in place (no reload: the reader
	// keeps their place in the log), and offers no rollback to itself.
	Until(t, "the release page shows the finished release", 30*time.Second, 100*time.Millisecond, func() (bool, string, error) {
		ended := evalJS[bool](t, ctx, `document.querySelector("[data-logview]").dataset.ended === "true"`)
		fin := evalJS[bool](t, ctx, `document.querySelector("#release-details dt:nth-last-of-type(1)").textContent === "Finished"`)
		return ended && fin, fmt.Sprintf("ended %v, finished time shown %v", ended, fin), nil
	})
	if !samePage(t, ctx) {
		t.Fatal("the release page reloaded when its deploy ended")
	}
	html, err := PageHTML(ctx)
	must(t, err)
	for _, want := range []string{"app v1 starting", "healthy: pid", "is live"} {
		if !strings.Contains(html, want) {
			t.Errorf("the finished release page lacks %q", want)
		}
	}
	Screenshot(t, ctx, "deploy-release-log-finished")
	must(t, Visit(ctx, envURL))
	must(t, WaitTestID(ctx, "live-release"))
	if got := envBody(t, ctx); !strings.HasPrefix(got, "v1") {
		t.Fatalf("dev serves %q, want v1", got)
	}

	deployFromPage(t, ctx, envURL, b2)

	must(t, Visit(ctx, envURL))
	must(t, WaitTestID(ctx, "live-release"))
	Screenshot(t, ctx, "deploy-env-live-v2")
	if got := envBody(t, ctx); !strings.HasPrefix(got, "v2") {
		t.Fatalf("dev serves %q, want v2", got)
	}

	// Roll back with the page's button (answering its confirmation).
	_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void]("window.confirm = () => true"))
	must(t, err)
	must(t, ClickAndLoad(ctx, TestID("rollback")))
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if body = envBody(t, ctx); strings.HasPrefix(body, "v1") {
			break
		}
	}
	if !strings.HasPrefix(body, "v1") {
		t.Fatalf("after the rollback dev serves %q, want v1", body)
	}
	must(t, Visit(ctx, envURL))
	must(t, WaitTestID(ctx, "paused-banner"))
	html, err = PageHTML(ctx)
	must(t, err)
	for _, want := range []string{"rolled_back", "rollback", "Auto-deploy is paused"} {
		if !strings.Contains(html, want) {
			t.Errorf("after the rollback the environment page lacks %q", want)
		}
	}
	Screenshot(t, ctx, "deploy-env-rolled-back")

	must(t, Visit(ctx, p.URL+"/environments"))
	must(t, WaitTestID(ctx, "env-card-dev"))
	Screenshot(t, ctx, "deploy-environments-overview")
	must(t, Visit(ctx, envURL+"/settings"))
	must(t, WaitTestID(ctx, "env-settings-form"))
	Screenshot(t, ctx, "deploy-env-settings")
}
