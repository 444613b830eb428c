package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// gitRepo makes a real repository with one commit on main and one on
// feature, and returns its path.
func gitRepo(t *testing.T) string {
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
	run("commit", "--quiet", "--allow-empty", "-m", "first")
	run("branch", "feature")
	return dir
}

// TestBrowserLinkProject links a repository the way a user does: the slug
// follows the name, "Check connection" explains a missing branch and then
// succeeds, and the project page shows the webhook and the branches.
func TestBrowserLinkProject(t *testing.T) {
	repo := gitRepo(t)
	p := StartPortal(t, Options{})
	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))

	must(t, Visit(ctx, p.URL+"/projects"))
	must(t, WaitTestID(ctx, "empty"))
	Screenshot(t, ctx, "projects-empty")
	must(t, ClickAndLoad(ctx, TestID("new-project")))

	must(t, Fill(ctx, "#f-name", "Demo App!"))
	slug, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-slug")))
	must(t, err)
	if slug != "demo-app" {
		t.Fatalf("the slug field reads %q after typing the name, want demo-app", slug)
	}
	must(t, Fill(ctx, "#f-repo_url", repo))
	must(t, Fill(ctx, "#f-default_branch", "develop"))
	must(t, step(ctx, chromedp.Click(TestID("check-connection"), chromedp.NodeVisible)))
	must(t, WaitTestID(ctx, "check-error"))
	msg, err := TextOf(ctx, "check-error")
	must(t, err)
	if !strings.Contains(msg, `no branch "develop"`) {
		t.Fatalf("check with a missing branch says %q", msg)
	}
	Screenshot(t, ctx, "check-missing-branch")

	must(t, Fill(ctx, "#f-default_branch", "main"))
	must(t, step(ctx, chromedp.Click(TestID("check-connection"), chromedp.NodeVisible)))
	must(t, WaitTestID(ctx, "check-ok"))
	Screenshot(t, ctx, "check-ok")

	must(t, ClickAndLoad(ctx, TestID("create-project")))
	if loc, err := Location(ctx); err != nil || loc != p.URL+"/projects/demo-app" {
		t.Fatalf("after creating, the browser is at %q (%v)", loc, err)
	}
	must(t, WaitTestID(ctx, "branches-table"))
	for _, id := range []string{"branch-main", "branch-feature", "webhook-secret", "run-build-form"} {
		if ok, err := HasTestID(ctx, id); err != nil || !ok {
			t.Fatalf("the project page lacks %s (%v)", id, err)
		}
	}
	hook, err := chromedp.Run(ctx, chromedp.Value(TestID("webhook-url")))
	must(t, err)
	if hook != p.URL+"/hooks/demo-app" {
		t.Fatalf("webhook URL reads %q", hook)
	}
	Screenshot(t, ctx, "project-page")

	must(t, ClickAndLoad(ctx, TestID("run-build")))
	if loc, err := Location(ctx); err != nil || !strings.HasPrefix(loc, p.URL+"/builds/") {
		t.Fatalf("after Run build the browser is at %q (%v), want the build", loc, err)
	}
	must(t, Visit(ctx, p.URL+"/projects"))
	must(t, WaitTestID(ctx, "project-demo-app"))
	Screenshot(t, ctx, "projects-list")
}
