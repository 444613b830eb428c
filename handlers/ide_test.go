package handlers

import (
	"encoding/json"
	"fmt"
	"github.com/PuerkitoBio/goquery"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/gitrepo"
)

func commitJSON(branch, base, msg string, actions ...string) string {
	return fmt.Sprintf(`{"branch":%q,"base_sha":%q,"message":%q,"actions":[%s]}`, branch, base, msg, strings.Join(actions, ","))
}

func writeAction(action, path, content string) string {
	return fmt.Sprintf(`{"action":%q,"path":%q,"content":%q}`, action, path, content)
}

func TestIDECommit(t *testing.T) {
	ts := newTestServer(t)
	dev := ts.user("dev", auth.Developer)
	devTok, _ := ts.token(dev)
	sess := ts.session(dev)
	p := ts.hostProject("web", devTok)
	post := func(body string) (*http.Response, map[string]any) {
		t.Helper()
		resp, b := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: sess, csrf: true, body: body, ctype: "application/json"})
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		return resp, m
	}

	resp, first := post(commitJSON("main", "", "first", writeAction("create", "VERSION", "1\n"), writeAction("create", "app/main.go", "package main\n")))
	if resp.StatusCode != 201 || first["build_id"] == nil {
		t.Fatalf("first commit: %d %v", resp.StatusCode, first)
	}
	base := first["sha"].(string)

	t.Run("the commit is authored by the signed-in user and builds", func(t *testing.T) {
		b, err := ts.store.LatestBuildForRef(t.Context(), p.ID, "main")
		if err != nil || b.CommitSHA != base || b.CommitAuthor != "dev" || b.Trigger != "ide" {
			t.Fatalf("%+v %v", b, err)
		}
	})

	t.Run("the build panel reports the commit's build of this project only", func(t *testing.T) {
		id := itoa(int64(first["build_id"].(float64)))
		resp, body := ts.do("GET", "/projects/web/ide/builds/"+id, reqOpts{session: sess})
		if resp.StatusCode != 200 || !strings.Contains(body, `"number":1`) || !strings.Contains(body, `"env":"dev"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		ts.hostProject("other", devTok)
		resp, _ = ts.do("GET", "/projects/other/ide/builds/"+id, reqOpts{session: sess})
		if resp.StatusCode != 404 {
			t.Fatalf("another project's build: %d", resp.StatusCode)
		}
	})

	t.Run("an edit on a moved branch is rebased when its files did not change", func(t *testing.T) {
		_, other := post(commitJSON("main", base, "other", writeAction("update", "app/main.go", "package main // 2\n")))
		resp, m := post(commitJSON("main", base, "bump", writeAction("update", "VERSION", "2\n")))
		if resp.StatusCode != 201 || m["rebased"] != true || m["parent"] != other["sha"] {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
		base = m["sha"].(string)
	})

	t.Run("an edit of a file changed meanwhile is a 409 naming it", func(t *testing.T) {
		post(commitJSON("main", base, "theirs", writeAction("update", "VERSION", "3\n")))
		resp, m := post(commitJSON("main", base, "mine", writeAction("update", "VERSION", "4\n")))
		if resp.StatusCode != http.StatusConflict || fmt.Sprint(m["conflicts"]) != "[VERSION]" {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
	})

	t.Run("concurrent commits on one base all land", func(t *testing.T) {
		head, err := gitrepo.RefSHA(t.Context(), ts.h.jobs.RepoDir(p), "refs/heads/main")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		codes := make([]int, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: sess, csrf: true, ctype: "application/json",
					body: commitJSON("main", head, "c", writeAction("create", fmt.Sprintf("f%d.txt", i), "x"))})
				codes[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != 201 {
				t.Fatalf("commit %d: %d", i, c)
			}
		}
	})

	bad := map[string]string{
		"a path outside the repository": commitJSON("main", base, "m", writeAction("create", "../x", "")),
		"a path in .git":                commitJSON("main", base, "m", writeAction("create", ".git/hooks/pre-receive", "")),
		"an empty message":              commitJSON("main", base, " ", writeAction("create", "y", "")),
		"a bad branch name":             commitJSON("ma..in", base, "m", writeAction("create", "y", "")),
		"an unknown base":               commitJSON("main", strings.Repeat("a", 40), "m", writeAction("create", "y", "")),
	}
	for name, body := range bad {
		t.Run("refuses "+name+" with 422", func(t *testing.T) {
			resp, m := post(body)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%d %v", resp.StatusCode, m)
			}
		})
	}

	t.Run("a viewer cannot commit", func(t *testing.T) {
		v := ts.session(ts.user("viewer", auth.Viewer))
		resp, _ := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: v, csrf: true, ctype: "application/json", body: commitJSON("main", base, "m", writeAction("create", "v", ""))})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})

	t.Run("without the CSRF token nothing is committed", func(t *testing.T) {
		resp, _ := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: sess, ctype: "application/json", body: commitJSON("main", base, "m", writeAction("create", "csrf", ""))})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})

	t.Run("a linked repository is read-only", func(t *testing.T) {
		buildtest.Project(t, ts.store, "linked", t.TempDir())
		resp, _ := ts.do("POST", "/projects/linked/ide/commit", reqOpts{session: sess, csrf: true, ctype: "application/json", body: commitJSON("main", "", "m", writeAction("create", "x", ""))})
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("%d", resp.StatusCode)
		}
		resp, body := ts.do("GET", "/projects/linked/ide", reqOpts{session: sess})
		if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="read-only"`) || strings.Contains(body, `data-testid="new-file"`) {
			t.Fatalf("linked IDE page: %d", resp.StatusCode)
		}
	})

	t.Run("a viewer sees a read-only IDE", func(t *testing.T) {
		v := ts.session(ts.user("viewer2", auth.Viewer))
		resp, body := ts.do("GET", "/projects/web/ide", reqOpts{session: v})
		if resp.StatusCode != 200 || !strings.Contains(body, "your role cannot commit") || strings.Contains(body, `data-testid="review"`) {
			t.Fatalf("viewer IDE page: %d", resp.StatusCode)
		}
	})

	t.Run("the page, tree, file, search and validation answer", func(t *testing.T) {
		resp, body := ts.do("GET", "/projects/web/ide?path=app/main.go", reqOpts{session: sess})
		if resp.StatusCode != 200 || !strings.Contains(body, `data-file="VERSION"`) || !strings.Contains(body, `type="module"`) {
			t.Fatalf("page %d", resp.StatusCode)
		}
		resp, body = ts.do("GET", "/projects/web/ide/tree?ref=main&path=app", reqOpts{session: sess})
		if resp.StatusCode != 200 || !strings.Contains(body, `data-file="app/main.go"`) {
			t.Fatalf("tree %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do("GET", "/projects/web/ide/file?ref=main&path=VERSION", reqOpts{session: sess})
		if resp.StatusCode != 200 || !strings.Contains(body, `"content":"3\n"`) {
			t.Fatalf("file %d %s", resp.StatusCode, body)
		}
		for _, bad := range []string{"../etc/passwd", "/etc/passwd", ".git/config", "nope"} {
			resp, _ = ts.do("GET", "/projects/web/ide/file?ref=main&path="+bad, reqOpts{session: sess})
			if resp.StatusCode != 400 && resp.StatusCode != 404 {
				t.Fatalf("file %q: %d", bad, resp.StatusCode)
			}
		}
		resp, body = ts.do("GET", "/projects/web/ide/search?ref=main&q=main", reqOpts{session: sess})
		if resp.StatusCode != 200 || body != "[\"app/main.go\"]\n" {
			t.Fatalf("search %d %q", resp.StatusCode, body)
		}
		resp, body = ts.do("POST", "/projects/web/ide/validate", reqOpts{session: sess, csrf: true, ctype: "application/json",
			body: `{"path":".slipway.yml","content":"build:\n  - name: x\n    runn: y\n"}`})
		if resp.StatusCode != 200 || !strings.Contains(body, `"line":3`) {
			t.Fatalf("validate %d %s", resp.StatusCode, body)
		}
	})

	t.Run("the page says what is wrong with its address", func(t *testing.T) {
		for _, c := range []struct {
			name, query string
			status      int
			want        string
		}{
			{"a path with a .. part", "?path=../etc/passwd", 400, "The path in the address is not valid"},
			{"an absolute path", "?path=/etc/passwd", 400, "is absolute"},
			{"a missing file", "?path=nope.txt", 404, "There is no file “nope.txt” on this branch."},
			{"a folder", "?path=app", 404, "“app” is a folder, not a file"},
			{"a branch that does not exist", "?ref=mian", 404, "There is no branch “mian”"},
		} {
			resp, body := ts.do("GET", "/projects/web/ide"+c.query, reqOpts{session: sess})
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
			must(t, err)
			problem := doc.Find(`[data-testid="ide-problem"]`).Text()
			if resp.StatusCode != c.status || !strings.Contains(problem, c.want) || strings.Contains(problem, "invalid change") {
				t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, problem, c.status, c.want)
			}
			if f := doc.Find(`[data-testid="editor-file"]`).Text(); f != "" {
				t.Errorf("%s: the editor opens %q", c.name, f)
			}
		}
		resp, body := ts.do("GET", "/projects/web/ide?path=app/main.go", reqOpts{session: sess})
		if resp.StatusCode != 200 || strings.Contains(body, `data-testid="ide-problem"`) {
			t.Errorf("a good path: %d, problem shown: %v", resp.StatusCode, strings.Contains(body, "ide-problem"))
		}
	})

	t.Run("read errors name the problem without a stray suffix", func(t *testing.T) {
		for _, u := range []string{"/projects/web/ide/file?ref=main&path=../x", "/projects/web/ide/tree?ref=main&path=a/../b"} {
			resp, body := ts.do("GET", u, reqOpts{session: sess})
			if resp.StatusCode != 400 || !strings.Contains(body, ".. part") || strings.Contains(body, "invalid change") {
				t.Errorf("%s: %d %s", u, resp.StatusCode, body)
			}
		}
		resp, body := ts.do("GET", "/api/v1/projects/web/files?ref=main&path=/abs", reqOpts{token: devTok})
		if resp.StatusCode != 400 || strings.Contains(body, "invalid change") || !strings.Contains(body, "absolute") {
			t.Errorf("API absolute path: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("asking for a folder as a file says it is a folder", func(t *testing.T) {
		for _, c := range []struct{ url, auth string }{
			{"/api/v1/projects/web/files?ref=main&path=app", "token"},
			{"/projects/web/ide/file?ref=main&path=app", "session"},
		} {
			o := reqOpts{session: sess}
			if c.auth == "token" {
				o = reqOpts{token: devTok}
			}
			resp, body := ts.do("GET", c.url, o)
			if resp.StatusCode != 400 || !strings.Contains(body, "app is a folder, not a file") || strings.Contains(body, "regular file") {
				t.Errorf("%s: %d %s", c.url, resp.StatusCode, body)
			}
		}
		// A file still reads, and a missing one is still 404.
		if resp, body := ts.do("GET", "/api/v1/projects/web/files?ref=main&path=app/main.go", reqOpts{token: devTok}); resp.StatusCode != 200 || !strings.HasPrefix(body, "package main") {
			t.Errorf("a file: %d %q", resp.StatusCode, body)
		}
		if resp, _ := ts.do("GET", "/api/v1/projects/web/files?ref=main&path=app/none.go", reqOpts{token: devTok}); resp.StatusCode != 404 {
			t.Errorf("a missing file: %d", resp.StatusCode)
		}
	})
}
