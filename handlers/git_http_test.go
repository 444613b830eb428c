package handlers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/models"
)

// gitClient runs the real git CLI as a user of the portal would.
type gitClient struct {
	t    *testing.T
	home string
}

func newGitClient(t *testing.T) *gitClient {
	return &gitClient{t: t, home: t.TempDir()}
}

// run runs git in dir and returns combined output and the error.
func (g *gitClient) run(dir string, args ...string) (string, error) {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + g.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (g *gitClient) must(dir string, args ...string) string {
	g.t.Helper()
	out, err := g.run(dir, args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// hostProject creates a hosted project through the API as dev.
func (ts *testServer) hostProject(slug, token string) *models.Project {
	ts.t.Helper()
	resp, body := ts.do("POST", "/api/v1/projects", reqOpts{token: token, ctype: "application/json",
		body: `{"name":"` + slug + `","slug":"` + slug + `","hosted":true,"default_branch":"main"}`})
	if resp.StatusCode != 201 || !strings.Contains(body, `"clone_url":"`+ts.srv.URL+`/git/`+slug+`.git"`) {
		ts.t.Fatalf("create hosted project %s: %d %s", slug, resp.StatusCode, body)
	}
	p, err := ts.store.ProjectBySlug(context.Background(), slug)
	if err != nil || !p.Hosted {
		ts.t.Fatalf("project %+v, %v", p, err)
	}
	return p
}

// gitURL is the clone URL with user and token in it.
func (ts *testServer) gitURL(slug, token string) string {
	u, _ := url.Parse(ts.srv.URL + "/git/" + slug + ".git")
	u.User = url.UserPassword("anyone", token)
	return u.String()
}

func TestGitSmartHTTP(t *testing.T) {
	ts := newTestServer(t)
	devTok, _ := ts.token(ts.user("dev", auth.Developer))
	viewerTok, _ := ts.token(ts.user("viewer", auth.Viewer))
	p := ts.hostProject("shop", devTok)
	g := newGitClient(t)

	work := filepath.Join(t.TempDir(), "work")
	g.must("", "clone", "--quiet", ts.gitURL("shop", devTok), work)
	if err := os.WriteFile(filepath.Join(work, "VERSION"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.must(work, "add", "VERSION")
	g.must(work, "commit", "--quiet", "-m", "first")
	g.must(work, "push", "--quiet", "origin", "HEAD:main")
	first := g.must(work, "rev-parse", "HEAD")

	t.Run("a push to a branch starts a build of the pushed commit", func(t *testing.T) {
		b, err := ts.store.LatestBuildForRef(t.Context(), p.ID, "main")
		if err != nil {
			t.Fatalf("no build after the push: %v", err)
		}
		if b.CommitSHA != first || b.Trigger != "push" || b.RefType != "branch" {
			t.Fatalf("build %+v", b)
		}
	})

	t.Run("a clone gets what was pushed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		g.must("", "clone", "--quiet", ts.gitURL("shop", viewerTok), dir)
		if got := g.must(dir, "rev-parse", "HEAD"); got != first {
			t.Fatalf("clone HEAD %s, want %s", got, first)
		}
	})

	t.Run("a 5 MB push goes through (over the UI's 1 MiB body limit)", func(t *testing.T) {
		blob := make([]byte, 5<<20)
		_, _ = rand.Read(blob) // incompressible
		if err := os.WriteFile(filepath.Join(work, "big.bin"), blob, 0o644); err != nil {
			t.Fatal(err)
		}
		g.must(work, "add", "big.bin")
		g.must(work, "commit", "--quiet", "-m", "big")
		g.must(work, "-c", "http.postBuffer=65536", "push", "--quiet", "origin", "HEAD:main")
		dir := filepath.Join(t.TempDir(), "c")
		g.must("", "clone", "--quiet", ts.gitURL("shop", devTok), dir)
		got, err := os.ReadFile(filepath.Join(dir, "big.bin"))
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("big.bin did not round-trip: %v", err)
		}
	})

	t.Run("protocol v2 is spoken for fetches and pushes still work", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		cmd := exec.Command("git", "-c", "protocol.version=2", "clone", "--quiet", ts.gitURL("shop", devTok), dir)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + g.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TRACE_PACKET=1", "GIT_TERMINAL_PROMPT=0"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("clone v2: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "git< version 2") {
			t.Fatalf("the server did not answer with protocol v2:\n%.2000s", out)
		}
		g.must(dir, "commit", "--quiet", "--allow-empty", "-m", "v2")
		g.must(dir, "-c", "protocol.version=2", "push", "--quiet", "origin", "HEAD:feature-v2")
		g.must(work, "fetch", "--quiet", "origin")
		if g.must(work, "rev-parse", "origin/feature-v2") != g.must(dir, "rev-parse", "HEAD") {
			t.Fatal("v2 push did not land")
		}
	})

	t.Run("a gzip request body is unpacked for git", func(t *testing.T) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		want := "want " + first + " ofs-delta\n"
		fmt.Fprintf(zw, "%04x%s00000009done\n", len(want)+4, want)
		zw.Close()
		req, _ := http.NewRequest("POST", ts.srv.URL+"/git/shop.git/git-upload-pack", &zb)
		req.SetBasicAuth("x", devTok)
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("PACK")) {
			t.Fatalf("gzip fetch: %d %.200q", resp.StatusCode, body)
		}
	})

	t.Run("two concurrent pushes both land", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([]string, 2)
		shas := make([]string, 2)
		for i := range 2 {
			dir := filepath.Join(t.TempDir(), "c")
			g.must("", "clone", "--quiet", ts.gitURL("shop", devTok), dir)
			g.must(dir, "commit", "--quiet", "--allow-empty", "-m", "concurrent")
			shas[i] = g.must(dir, "rev-parse", "HEAD")
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = g.run(dir, "push", "origin", "HEAD:refs/heads/par-"+string(rune('a'+i)))
			}()
		}
		wg.Wait()
		for i := range 2 {
			if errs[i] != nil {
				t.Fatalf("push %d: %v\n%s", i, errs[i], outs[i])
			}
			b, err := ts.store.LatestBuildForRef(t.Context(), p.ID, "par-"+string(rune('a'+i)))
			if err != nil || b.CommitSHA != shas[i] {
				t.Fatalf("push %d built %+v, %v", i, b, err)
			}
		}
	})

	t.Run("a force-push to the default branch is refused", func(t *testing.T) {
		before := ts.countBuilds(p.ID)
		dir := filepath.Join(t.TempDir(), "c")
		g.must("", "clone", "--quiet", ts.gitURL("shop", devTok), dir)
		g.must(dir, "reset", "--quiet", "--hard", first)
		g.must(dir, "commit", "--quiet", "--allow-empty", "-m", "rewrite")
		out, err := g.run(dir, "push", "--force", "origin", "HEAD:main")
		if err == nil || !strings.Contains(out, "force-push to the default branch main refused") {
			t.Fatalf("force-push was not refused: %v\n%s", err, out)
		}
		out, err = g.run(dir, "push", "origin", ":main")
		if err == nil || !strings.Contains(out, "cannot be deleted") {
			t.Fatalf("deleting main was not refused: %v\n%s", err, out)
		}
		// Other branches may be rewritten.
		g.must(dir, "push", "--force", "origin", "HEAD:feature-v2")
		if n := ts.countBuilds(p.ID); n != before+1 {
			t.Fatalf("builds %d → %d, want one more (the feature branch)", before, n)
		}
	})

	t.Run("a wrong token is 401", func(t *testing.T) {
		out, err := g.run("", "ls-remote", ts.gitURL("shop", "not-a-token"))
		if err == nil || !strings.Contains(out, "401") && !strings.Contains(out, "Authentication failed") {
			t.Fatalf("ls-remote with a bad token: %v\n%s", err, out)
		}
		resp, _ := ts.do("GET", "/git/shop.git/info/refs?service=git-upload-pack", reqOpts{})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("anonymous: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("a viewer can clone but a push is 403", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		g.must("", "clone", "--quiet", ts.gitURL("shop", viewerTok), dir)
		g.must(dir, "commit", "--quiet", "--allow-empty", "-m", "viewer")
		out, err := g.run(dir, "push", "origin", "HEAD:viewer")
		if err == nil || !strings.Contains(out, "403") {
			t.Fatalf("viewer push: %v\n%s", err, out)
		}
	})

	t.Run("a session cookie is not a git credential", func(t *testing.T) {
		sess := ts.session(ts.user("dev2", auth.Developer))
		resp, _ := ts.do("POST", "/git/shop.git/git-receive-pack", reqOpts{session: sess, csrf: true, body: "0000", ctype: "application/x-git-receive-pack-request"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})

	t.Run("a linked project is not served", func(t *testing.T) {
		buildtest.Project(t, ts.store, "linked", t.TempDir())
		out, err := g.run("", "ls-remote", ts.gitURL("linked", devTok))
		if err == nil || !strings.Contains(out, "not found") && !strings.Contains(out, "404") {
			t.Fatalf("ls-remote linked: %v\n%s", err, out)
		}
	})
}

// TestHostedBuildReadsTheHostedRepository runs a build of a pushed commit
// from the bare repository itself.
func TestHostedBuildReadsTheHostedRepository(t *testing.T) {
	ts := newTestServerWith(t, true)
	devTok, _ := ts.token(ts.user("dev", auth.Developer))
	p := ts.hostProject("app", devTok)
	g := newGitClient(t)
	work := filepath.Join(t.TempDir(), "work")
	g.must("", "clone", "--quiet", ts.gitURL("app", devTok), work)
	if err := os.WriteFile(filepath.Join(work, ".slipway.yml"), []byte(handlerPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	g.must(work, "add", ".")
	g.must(work, "commit", "--quiet", "-m", "pipeline")
	g.must(work, "push", "--quiet", "origin", "HEAD:main")
	b, err := ts.store.LatestBuildForRef(t.Context(), p.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	done := buildtest.WaitBuild(t, ts.store, b.ID, time.Minute)
	if done.Status != models.BuildSucceeded {
		t.Fatalf("build %s: %s", done.Status, done.StatusReason)
	}
	// The checkout line names where the commit came from, not an empty URL.
	_, log := ts.do(http.MethodGet, "/api/v1/builds/"+strconv.FormatInt(b.ID, 10)+"/log", reqOpts{token: devTok})
	if !strings.Contains(log, "(branch main) of the repository hosted by this portal") {
		t.Errorf("build log does not say the commit came from the hosted repository:\n%s", log)
	}
}
