package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/models"
)

const handlerPipeline = `build:
  - name: compile
    run: |
      echo '<script>alert(1)</script>'
      mkdir -p bin && echo app > bin/app
artifact:
  paths: [bin/app]
`

type buildResp struct {
	ID           int64  `json:"id"`
	Number       int64  `json:"number"`
	Project      string `json:"project"`
	Ref          string `json:"ref"`
	CommitSHA    string `json:"commit_sha"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	LogTruncated bool   `json:"log_truncated"`
	TriggeredBy  string `json:"triggered_by"`
	Steps        []struct {
		Name       string `json:"name"`
		Status     string `json:"status"`
		ExitCode   *int   `json:"exit_code"`
		DurationMS int64  `json:"duration_ms"`
	} `json:"steps"`
	Artifact *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"artifact"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

func TestBuildAPI(t *testing.T) {
	ts := newTestServerWith(t, true)
	dev, _ := ts.token(ts.user("dev", auth.Developer))
	viewer, _ := ts.token(ts.user("viewer", auth.Viewer))
	repo := buildtest.NewRepo(t)
	sha := repo.Pipeline(handlerPipeline, nil, "first commit")
	buildtest.Project(t, ts.store, "app", repo.Dir)
	buildtest.Project(t, ts.store, "gone", filepath.Join(t.TempDir(), "missing"))

	resp, body := ts.do("POST", "/api/v1/projects/app/builds", reqOpts{token: dev, body: `{"ref":"main"}`, ctype: "application/json"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	created := decode[buildResp](t, body)
	if created.Number != 1 || created.Status != "queued" || created.CommitSHA != sha || created.Project != "app" || created.TriggeredBy != "dev" {
		t.Fatalf("created %+v", created)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/builds/"+itoa(created.ID) {
		t.Errorf("Location %q", loc)
	}
	buildtest.WaitBuild(t, ts.store, created.ID, time.Minute)

	t.Run("a finished build shows its steps, artifact and log state", func(t *testing.T) {
		resp, body := ts.do("GET", "/api/v1/builds/"+itoa(created.ID), reqOpts{token: viewer})
		b := decode[buildResp](t, body)
		if resp.StatusCode != 200 || b.Status != "succeeded" || b.Artifact == nil || len(b.Artifact.SHA256) != 64 || b.Artifact.Size == 0 || b.LogTruncated {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var names []string
		for _, s := range b.Steps {
			names = append(names, s.Name)
		}
		if strings.Join(names, ",") != "checkout,config,compile,artifact" {
			t.Errorf("steps %v", names)
		}
		if !strings.Contains(body, `"exit_code":0`) || !strings.Contains(body, `"duration_ms"`) {
			t.Errorf("steps lack exit codes or durations: %s", body)
		}
	})
	t.Run("the log is plain text from line 1", func(t *testing.T) {
		resp, body := ts.do("GET", "/api/v1/builds/"+itoa(created.ID)+"/log", reqOpts{token: viewer})
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		lines := strings.Split(body, "\n")
		if lines[0] != "[slipway] ── step checkout" || !strings.Contains(body, "<script>alert(1)</script>") {
			t.Fatalf("log:\n%s", body)
		}
	})
	t.Run("the artifact downloads with its digest as ETag", func(t *testing.T) {
		_, body := ts.do("GET", "/api/v1/builds/"+itoa(created.ID), reqOpts{token: viewer})
		sha := decode[buildResp](t, body).Artifact.SHA256
		resp, data := ts.do("GET", "/api/v1/artifacts/"+sha, reqOpts{token: viewer})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" || resp.Header.Get("ETag") != `"`+sha+`"` ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || len(data) == 0 || data[:2] != "\x1f\x8b" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		req, _ := http.NewRequest("GET", ts.srv.URL+"/api/v1/artifacts/"+sha, nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		req.Header.Set("If-None-Match", `"`+sha+`"`)
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d, want 304", r2.StatusCode)
		}
		for _, bad := range []string{strings.Repeat("0", 64), "not-a-digest"} {
			if resp, _ := ts.do("GET", "/api/v1/artifacts/"+bad, reqOpts{token: viewer}); resp.StatusCode != 404 {
				t.Errorf("artifact %s: %d, want 404", bad, resp.StatusCode)
			}
		}
	})
	t.Run("the project's builds are listed newest first", func(t *testing.T) {
		_, body := ts.do("POST", "/api/v1/projects/app/builds", reqOpts{token: dev, body: `{}`, ctype: "application/json"})
		second := decode[buildResp](t, body)
		if second.Ref != "main" {
			t.Errorf("an empty ref builds the default branch, got %q", second.Ref)
		}
		resp, body := ts.do("GET", "/api/v1/projects/app/builds", reqOpts{token: viewer})
		list := decode[[]buildResp](t, body)
		if resp.StatusCode != 200 || len(list) != 2 || list[0].ID != second.ID || list[1].ID != created.ID {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		buildtest.WaitBuild(t, ts.store, second.ID, time.Minute)
		_, body = ts.do("GET", "/api/v1/projects/app/builds?status=failed", reqOpts{token: viewer})
		if len(decode[[]buildResp](t, body)) != 0 {
			t.Errorf("status filter: %s", body)
		}
	})
	t.Run("bad requests get a clear 4xx or 502, never a 500", func(t *testing.T) {
		cases := []struct {
			name, path, token, body string
			status                  int
			want                    string
		}{
			{"an unknown ref is 422 naming it", "/api/v1/projects/app/builds", dev, `{"ref":"nope"}`, 422, `unknown ref \"nope\"`},
			{"an unreachable repository is 502 saying so", "/api/v1/projects/gone/builds", dev, `{"ref":"main"}`, 502, "could not fetch the repository"},
			{"an unknown project is 404", "/api/v1/projects/nope/builds", dev, `{"ref":"main"}`, 404, "error"},
			{"a body that is not JSON is 400", "/api/v1/projects/app/builds", dev, `ref=main`, 400, "invalid JSON"},
			{"an unknown field is 400", "/api/v1/projects/app/builds", dev, `{"branch":"main"}`, 400, "branch"},
			{"a viewer may not run builds", "/api/v1/projects/app/builds", viewer, `{"ref":"main"}`, 403, "does not allow"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp, body := ts.do("POST", c.path, reqOpts{token: c.token, body: c.body, ctype: "application/json"})
				if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
					t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, c.status, c.want)
				}
			})
		}
	})
}

func TestBuildCancelThroughTheAPI(t *testing.T) {
	ts := newTestServerWith(t, true)
	dev, _ := ts.token(ts.user("dev", auth.Developer))
	qa, _ := ts.token(ts.user("qa", auth.QA))
	repo := buildtest.NewRepo(t)
	started := filepath.Join(t.TempDir(), "started")
	repo.Pipeline("build:\n  - name: wait\n    run: echo x > "+started+"; sleep 300\n", nil, "slow")
	buildtest.Project(t, ts.store, "slow", repo.Dir)
	_, body := ts.do("POST", "/api/v1/projects/slow/builds", reqOpts{token: dev, body: `{"ref":"main"}`, ctype: "application/json"})
	b := decode[buildResp](t, body)
	deadline := time.Now().Add(30 * time.Second)
	for !fileExists(started) {
		if time.Now().After(deadline) {
			t.Fatal("the step never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, _ := ts.do("POST", "/api/v1/builds/"+itoa(b.ID)+"/cancel", reqOpts{token: qa}); resp.StatusCode != 403 {
		t.Fatalf("qa cancel: %d, want 403", resp.StatusCode)
	}
	resp, body := ts.do("POST", "/api/v1/builds/"+itoa(b.ID)+"/cancel", reqOpts{token: dev})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	done := buildtest.WaitBuild(t, ts.store, b.ID, time.Minute)
	if done.Status != models.BuildCanceled || done.StatusReason != "canceled by dev" {
		t.Fatalf("after cancel: %s %q", done.Status, done.StatusReason)
	}
	resp, body = ts.do("POST", "/api/v1/builds/"+itoa(b.ID)+"/cancel", reqOpts{token: dev})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already finished") {
		t.Fatalf("second cancel: %d %s", resp.StatusCode, body)
	}
}

func TestBuildPages(t *testing.T) {
	ts := newTestServerWith(t, true)
	dev := ts.user("dev", auth.Developer)
	viewer := ts.session(ts.user("viewer", auth.Viewer))
	devSession := ts.session(dev)
	repo := buildtest.NewRepo(t)
	sha := repo.Pipeline(handlerPipeline, nil, "first <b>commit</b>")
	buildtest.Project(t, ts.store, "app", repo.Dir)

	t.Run("an empty list says what to do", func(t *testing.T) {
		resp, body := ts.do("GET", "/builds", reqOpts{session: viewer})
		if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="empty"`) || strings.Contains(body, `data-testid="run-build"`) {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
	})
	var id string
	t.Run("the run build form starts a build and shows it", func(t *testing.T) {
		resp, body := ts.do("GET", "/builds/new?project=app", reqOpts{session: devSession})
		if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="run-build-form"`) || !strings.Contains(body, `value="main"`) {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
		resp, body = ts.do("POST", "/builds", reqOpts{session: devSession, csrf: true, form: url.Values{"project": {"app"}, "ref": {"nope"}}})
		if resp.StatusCode != 422 || !strings.Contains(body, "unknown ref &#34;nope&#34;") {
			t.Fatalf("unknown ref: %d\n%s", resp.StatusCode, body)
		}
		resp, _ = ts.do("POST", "/builds", reqOpts{session: devSession, csrf: true, form: url.Values{"project": {"app"}, "ref": {"main"}}})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/builds/") {
			t.Fatalf("create: %d %q", resp.StatusCode, loc)
		}
		id = strings.TrimPrefix(loc, "/builds/")
	})
	b, err := ts.store.Builds(t.Context(), models.BuildFilter{})
	if err != nil || len(b) != 1 {
		t.Fatalf("builds %d %v", len(b), err)
	}
	done := buildtest.WaitBuild(t, ts.store, b[0].ID, time.Minute)
	if done.ArtifactSHA256 == nil {
		t.Fatalf("build %s %q has no artifact", done.Status, done.StatusReason)
	}
	t.Run("the build page shows commit, steps, artifact and the escaped log", func(t *testing.T) {
		resp, body := ts.do("GET", "/builds/"+id, reqOpts{session: viewer})
		for _, want := range []string{sha, "first &lt;b&gt;commit&lt;/b&gt;", "Ada Lovelace", `data-testid="step-compile"`,
			`data-testid="artifact-sha"`, "&lt;script&gt;alert(1)&lt;/script&gt;", "Run by hand by dev", `data-status="succeeded"`} {
			if !strings.Contains(body, want) {
				t.Errorf("build page lacks %q", want)
			}
		}
		if resp.StatusCode != 200 || strings.Contains(body, "<script>alert(1)") || strings.Contains(body, `data-testid="cancel-build"`) {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("the list filters by project, branch and status", func(t *testing.T) {
		for q, want := range map[string]bool{"": true, "?project=app": true, "?ref=main&status=succeeded": true,
			"?status=failed": false, "?project=other": false, "?ref=dev": false} {
			_, body := ts.do("GET", "/builds"+q, reqOpts{session: viewer})
			if got := strings.Contains(body, `data-testid="build-`+id+`"`); got != want {
				t.Errorf("/builds%s lists the build: %v, want %v", q, got, want)
			}
		}
	})
	t.Run("the raw log and the artifact download work with a session", func(t *testing.T) {
		for _, old := range []string{"/builds/" + id + "/log?download=1", "/builds/" + id + "/log"} {
			resp, _ := ts.do("GET", old, reqOpts{session: viewer})
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/builds/"+id+"/log.txt" {
				t.Fatalf("%s: %d to %q, want a permanent redirect to the one raw download", old, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		resp, body := ts.do("GET", "/builds/"+id+"/log.txt", reqOpts{session: viewer})
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "app-build-1.log") || !strings.Contains(body, "step compile") {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = ts.do("GET", "/artifacts/"+*done.ArtifactSHA256, reqOpts{session: viewer})
		if resp.StatusCode != 200 {
			t.Fatalf("artifact download: %d", resp.StatusCode)
		}
	})
	t.Run("the cancel button stops a running build", func(t *testing.T) {
		started := filepath.Join(t.TempDir(), "started")
		repo.Git("checkout", "--quiet", "-b", "slow")
		repo.Pipeline("build:\n  - name: wait\n    run: echo x > "+started+"; sleep 300\n", nil, "slow")
		resp, _ := ts.do("POST", "/builds", reqOpts{session: devSession, csrf: true, form: url.Values{"project": {"app"}, "ref": {"slow"}}})
		slow := resp.Header.Get("Location")
		deadline := time.Now().Add(30 * time.Second)
		for !fileExists(started) {
			if time.Now().After(deadline) {
				t.Fatal("the step never started")
			}
			time.Sleep(20 * time.Millisecond)
		}
		_, body := ts.do("GET", slow, reqOpts{session: devSession})
		if !strings.Contains(body, `data-testid="cancel-build"`) {
			t.Fatal("a running build's page has no cancel button")
		}
		if resp, _ := ts.do("POST", slow+"/cancel", reqOpts{session: viewer, csrf: true, form: url.Values{}}); resp.StatusCode != 403 {
			t.Fatalf("viewer cancel: %d, want 403", resp.StatusCode)
		}
		resp, _ = ts.do("POST", slow+"/cancel", reqOpts{session: devSession, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != slow {
			t.Fatalf("cancel: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		bs, _ := ts.store.Builds(t.Context(), models.BuildFilter{Ref: "slow"})
		if d := buildtest.WaitBuild(t, ts.store, bs[0].ID, time.Minute); d.Status != models.BuildCanceled {
			t.Fatalf("after the cancel button: %s", d.Status)
		}
	})
	t.Run("a missing build is 404", func(t *testing.T) {
		for _, p := range []string{"/builds/999", "/builds/abc"} {
			if resp, _ := ts.do("GET", p, reqOpts{session: viewer}); resp.StatusCode != 404 {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		}
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
