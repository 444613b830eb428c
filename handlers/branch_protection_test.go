package handlers

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// TestBranchProtection: a lead limits the default branch to leads and
// admins; a developer's push and IDE commit to it are refused with the
// reason, a lead's go through; force-pushes need their own setting.
func TestBranchProtection(t *testing.T) {
	ts := newTestServer(t)
	dev := ts.user("dev", auth.Developer)
	lead := ts.user("lead", auth.Lead)
	devTok, _ := ts.token(dev)
	leadTok, _ := ts.token(lead)
	p := ts.hostProject("guarded", devTok)
	g := newGitClient(t)

	work := filepath.Join(t.TempDir(), "work")
	g.must("", "clone", "--quiet", ts.gitURL("guarded", devTok), work)
	commit := func(name string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, "VERSION"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		g.must(work, "add", "VERSION")
		g.must(work, "commit", "--quiet", "-m", name)
		return g.must(work, "rev-parse", "HEAD")
	}
	first := commit("1")
	g.must(work, "push", "--quiet", "origin", "HEAD:main") // developers and up by default
	mainSHA := func() string {
		t.Helper()
		p, _ := ts.store.ProjectBySlug(context.Background(), "guarded")
		sha, err := gitrepo.RefSHA(context.Background(), ts.h.jobs.RepoDir(p), "refs/heads/main")
		if err != nil {
			t.Fatal(err)
		}
		return sha
	}
	protect := func(sess string, form url.Values) int {
		t.Helper()
		resp, _ := ts.do("POST", "/projects/guarded/branch-protection", reqOpts{session: sess, csrf: true, form: form})
		return resp.StatusCode
	}

	t.Run("a developer cannot change the setting", func(t *testing.T) {
		if code := protect(ts.session(dev), url.Values{"push_default": {"developers"}, "allow_force_push": {"true"}}); code != 403 {
			t.Fatalf("developer changed branch protection: %d", code)
		}
	})
	if code := protect(ts.session(lead), url.Values{"push_default": {"leads"}}); code != 303 {
		t.Fatalf("lead saving branch protection: %d", code)
	}
	t.Run("the change is audited", func(t *testing.T) {
		for _, e := range ts.events() {
			if e.Action == models.AuditProjectProtect && e.ObjectID == "guarded" && strings.Contains(e.Details, "protect_default_branch") {
				return
			}
		}
		t.Fatal("no project.branch_protection audit event")
	})

	t.Run("the project page shows the setting, editable by a lead only", func(t *testing.T) {
		_, body := ts.do("GET", "/projects/guarded", reqOpts{session: ts.session(lead)})
		if !strings.Contains(body, `data-testid="branch-protection-form"`) {
			t.Fatal("no branch protection form for a lead")
		}
		_, body = ts.do("GET", "/projects/guarded", reqOpts{session: ts.session(dev)})
		if strings.Contains(body, `data-testid="branch-protection-form"`) || !strings.Contains(body, "leads and admins only") {
			t.Fatal("a developer should see the setting read-only")
		}
	})

	second := commit("2")
	t.Run("a developer's push to main is refused with the reason", func(t *testing.T) {
		before := ts.countBuilds(p.ID)
		out, err := g.run(work, "push", "origin", "HEAD:main")
		if err == nil || !strings.Contains(out, "pushes to the default branch main are limited to leads and admins") {
			t.Fatalf("push was not refused: %v\n%s", err, out)
		}
		if got := mainSHA(); got != first {
			t.Fatalf("main moved to %s", got)
		}
		if n := ts.countBuilds(p.ID); n != before {
			t.Fatalf("a refused push started a build (%d → %d)", before, n)
		}
	})
	t.Run("a push option cannot unlock it", func(t *testing.T) {
		out, err := g.run(work, "push", "--push-option=SLIPWAY_PUSH_DEFAULT=allow", "origin", "HEAD:main")
		if err == nil || mainSHA() != first {
			t.Fatalf("push with a push option was accepted: %v\n%s", err, out)
		}
	})
	t.Run("a developer may still push other branches", func(t *testing.T) {
		g.must(work, "push", "--quiet", "origin", "HEAD:feature")
	})
	t.Run("a developer's IDE commit to main is 403 with the reason", func(t *testing.T) {
		resp, body := ts.do("POST", "/projects/guarded/ide/commit", reqOpts{session: ts.session(dev), csrf: true, ctype: "application/json",
			body: commitJSON("main", first, "m", writeAction("update", "VERSION", "3\n"))})
		if resp.StatusCode != 403 || !strings.Contains(body, "limited to leads and admins") {
			t.Fatalf("IDE commit: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do("POST", "/api/v1/projects/guarded/commits", reqOpts{token: devTok, ctype: "application/json",
			body: commitJSON("main", first, "m", writeAction("update", "VERSION", "3\n"))})
		if resp.StatusCode != 403 || !strings.Contains(body, "limited to leads and admins") {
			t.Fatalf("API commit: %d %s", resp.StatusCode, body)
		}
		if mainSHA() != first {
			t.Fatal("main moved")
		}
	})
	t.Run("a lead's push to main is accepted", func(t *testing.T) {
		g.must(work, "push", "--quiet", ts.gitURL("guarded", leadTok), "HEAD:main")
		if got := mainSHA(); got != second {
			t.Fatalf("main at %s, want %s", got, second)
		}
	})
	t.Run("a lead's IDE commit to main is accepted", func(t *testing.T) {
		resp, body := ts.do("POST", "/projects/guarded/ide/commit", reqOpts{session: ts.session(lead), csrf: true, ctype: "application/json",
			body: commitJSON("main", second, "m", writeAction("update", "VERSION", "3\n"))})
		if resp.StatusCode != 201 {
			t.Fatalf("lead IDE commit: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("force-push needs its own setting, even for a lead", func(t *testing.T) {
		g.must(work, "reset", "--quiet", "--hard", first)
		rewrite := commit("rewrite")
		out, err := g.run(work, "push", "--force", ts.gitURL("guarded", leadTok), "HEAD:main")
		if err == nil || !strings.Contains(out, "force-push to the default branch main refused") {
			t.Fatalf("lead force-push was not refused: %v\n%s", err, out)
		}
		if code := protect(ts.session(lead), url.Values{"push_default": {"leads"}, "allow_force_push": {"true"}}); code != 303 {
			t.Fatalf("allow force-push: %d", code)
		}
		out, err = g.run(work, "push", "--force", "origin", "HEAD:main")
		if err == nil || !strings.Contains(out, "limited to leads and admins") {
			t.Fatalf("developer force-push was not refused: %v\n%s", err, out)
		}
		g.must(work, "push", "--quiet", "--force", ts.gitURL("guarded", leadTok), "HEAD:main")
		if got := mainSHA(); got != rewrite {
			t.Fatalf("main at %s after an allowed force-push, want %s", got, rewrite)
		}
		out, err = g.run(work, "push", ts.gitURL("guarded", leadTok), ":main")
		if err == nil || !strings.Contains(out, "cannot be deleted") {
			t.Fatalf("deleting main was not refused: %v\n%s", err, out)
		}
	})
	t.Run("back to developers and up, developers push again", func(t *testing.T) {
		if code := protect(ts.session(lead), url.Values{"push_default": {"developers"}}); code != 303 {
			t.Fatalf("unprotect: %d", code)
		}
		g.must(work, "pull", "--quiet", "--rebase", "origin", "main")
		commit("4")
		g.must(work, "push", "--quiet", "origin", "HEAD:main")
	})
}
