package handlers

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// gitFixture is a real repository with a work tree that tests commit to.
type gitFixture struct {
	t   *testing.T
	Dir string
}

// newGitFixture makes a repository whose first branch is main, with one
// commit.
func newGitFixture(t *testing.T) *gitFixture {
	t.Helper()
	g := &gitFixture{t: t, Dir: filepath.Join(t.TempDir(), "repo")}
	g.git("init", "--quiet", "--initial-branch=main", g.Dir)
	g.commit("first")
	return g
}

func (g *gitFixture) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = g.Dir
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + g.Dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes an empty commit on the current branch and returns its SHA.
func (g *gitFixture) commit(msg string) string {
	g.t.Helper()
	g.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return g.git("rev-parse", "HEAD")
}

// head returns the SHA a branch points at.
func (g *gitFixture) head(branch string) string {
	g.t.Helper()
	return g.git("rev-parse", "refs/heads/"+branch)
}

// linkProject creates a project through the API as an admin (who may link
// local paths) and returns it with its webhook secret.
func (ts *testServer) linkProject(slug, repo string) (*models.Project, string) {
	ts.t.Helper()
	admin, err := ts.store.UserByName(context.Background(), "project-admin")
	if err != nil {
		admin = ts.user("project-admin", auth.Admin)
	}
	tok, _ := ts.token(admin)
	resp, body := ts.do("POST", "/api/v1/projects", reqOpts{token: tok, ctype: "application/json",
		body: `{"name":"` + slug + `","slug":"` + slug + `","repo_url":"` + repo + `","default_branch":"main"}`})
	if resp.StatusCode != 201 {
		ts.t.Fatalf("create project %s: %d %s", slug, resp.StatusCode, body)
	}
	p, err := ts.store.ProjectBySlug(context.Background(), slug)
	if err != nil {
		ts.t.Fatal(err)
	}
	secret, err := ts.h.webhookSecret(p)
	if err != nil {
		ts.t.Fatal(err)
	}
	return p, string(secret)
}

// countBuilds counts a project's builds.
func (ts *testServer) countBuilds(projectID int64) int {
	ts.t.Helper()
	var n int
	err := ts.store.SQLDB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM builds WHERE project_id = "+itoa(projectID)).Scan(&n)
	if err != nil {
		ts.t.Fatal(err)
	}
	return n
}

// projectForm is a complete new-project form.
func projectForm(kv ...string) url.Values {
	f := url.Values{"name": {"Web shop"}, "repo_url": {"https://git.example.com/team/shop.git"}, "default_branch": {"main"}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}
