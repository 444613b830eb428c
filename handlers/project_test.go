package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

const testDeployKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"

func TestCreateProjectFromTheForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dev := ts.session(ts.user("dev", auth.Developer))
	admin := ts.session(ts.user("root", auth.Admin))
	local := newGitFixture(t)
	ts.linkProject("taken", local.Dir)

	for _, tc := range []struct {
		name     string
		session  string
		form     url.Values
		status   int
		slug     string // the project expected afterwards
		errField string // the field the form error names
		errText  string
	}{
		{"a developer links an https repository and the slug comes from the name", dev, projectForm("name", "My Web App!"), 303, "my-web-app", "", ""},
		{"an edited slug is kept", dev, projectForm("name", "Shop", "slug", "shop-2"), 303, "shop-2", "", ""},
		{"an ssh repository takes a deploy key", dev, projectForm("name", "Ssh", "repo_url", "git@git.example.com:team/app.git", "deploy_key", testDeployKey), 303, "ssh", "", ""},
		{"a poll interval is kept", dev, projectForm("name", "Polled", "poll_interval", "300"), 303, "polled", "", ""},
		{"an admin links a local path", admin, projectForm("name", "Local", "repo_url", local.Dir), 303, "local", "", ""},
		{"an admin links a file URL", admin, projectForm("name", "File", "repo_url", "file://"+local.Dir), 303, "file", "", ""},
		{"a developer may not link a local path", dev, projectForm("name", "Mine", "repo_url", local.Dir), 403, "", "repo_url", "only admins"},
		{"a developer may not link a file URL", dev, projectForm("name", "Mine", "repo_url", "file://"+local.Dir), 403, "", "repo_url", "only admins"},
		{"a developer may not link a loopback URL", dev, projectForm("name", "Mine", "repo_url", "http://127.0.0.1:3000/x.git"), 422, "", "repo_url", "repository not found or not reachable"},
		{"a missing name is refused", dev, projectForm("name", " "), 422, "", "name", "Name is required"},
		{"a name of punctuation gives no slug", dev, projectForm("name", "!!!"), 422, "", "slug", "Slug is required"},
		{"a bad slug is refused", dev, projectForm("slug", "Not A Slug"), 422, "", "slug", "lower-case"},
		{"a reserved slug is refused", dev, projectForm("slug", "new"), 422, "", "slug", "reserved"},
		{"a missing repository URL is refused", dev, projectForm("repo_url", ""), 422, "", "repo_url", "Repository URL is required"},
		{"an unsupported scheme is refused", dev, projectForm("repo_url", "ftp://example.com/x.git"), 422, "", "repo_url", "unsupported scheme"},
		{"option injection is refused", dev, projectForm("repo_url", "--upload-pack=touch /tmp/x"), 422, "", "repo_url", "invalid repository URL"},
		{"a bad branch name is refused", dev, projectForm("default_branch", "my branch"), 422, "", "default_branch", "not a valid branch name"},
		{"a deploy key with an https URL is refused", dev, projectForm("deploy_key", testDeployKey), 422, "", "deploy_key", "only used with ssh"},
		{"a deploy key that is not a private key is refused", dev, projectForm("repo_url", "git@h:x.git", "deploy_key", "ssh-ed25519 AAAA me@host"), 422, "", "deploy_key", "private key"},
		{"a too short poll interval is refused", dev, projectForm("poll_interval", "5"), 422, "", "poll_interval", "between 30"},
		{"a taken slug is a conflict", dev, projectForm("name", "Taken"), 409, "", "slug", "taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, "/projects", reqOpts{session: tc.session, csrf: true, form: tc.form})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.slug != "" {
				if loc := resp.Header.Get("Location"); loc != "/projects/"+tc.slug {
					t.Fatalf("redirect to %q, want /projects/%s", loc, tc.slug)
				}
				p, err := ts.store.ProjectBySlug(context.Background(), tc.slug)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ts.h.webhookSecret(p); err != nil {
					t.Fatalf("the webhook secret does not open: %v", err)
				}
				if key := tc.form.Get("deploy_key"); key != "" {
					if strings.Contains(string(p.DeployKeySealed), "OPENSSH") {
						t.Fatal("the deploy key is stored in clear")
					}
					got, err := ts.h.secrets.Open(p.DeployKeySealed, p.DeployKeyAD())
					if err != nil || strings.TrimSpace(string(got)) != key {
						t.Fatalf("the deploy key does not open to what was pasted: %v", err)
					}
				}
				return
			}
			if !strings.Contains(body, `data-field="`+tc.errField+`"`) || !strings.Contains(body, tc.errText) {
				t.Fatalf("want a form error on %s saying %q, got:\n%s", tc.errField, tc.errText, body)
			}
			if !strings.Contains(body, `name="repo_url"`) {
				t.Fatal("the form must be shown again")
			}
		})
	}
}

func TestProjectAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dev, _ := ts.token(ts.user("dev", auth.Developer))
	viewer, _ := ts.token(ts.user("viewer", auth.Viewer))
	post := func(tok, body string) (*http.Response, map[string]any) {
		resp, raw := ts.do(http.MethodPost, "/api/v1/projects", reqOpts{token: tok, body: body, ctype: "application/json"})
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("not JSON: %s", raw)
		}
		return resp, m
	}

	resp, got := post(dev, `{"name":"Web shop","repo_url":"https://git.example.com/shop.git","default_branch":"trunk"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, got)
	}
	secret, _ := got["webhook_secret"].(string)
	if got["slug"] != "web-shop" || got["name"] != "Web shop" || got["default_branch"] != "trunk" ||
		got["webhook_url"] != ts.srv.URL+"/hooks/web-shop" || len(secret) < 30 {
		t.Fatalf("create answered %v", got)
	}
	p, err := ts.store.ProjectBySlug(context.Background(), "web-shop")
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := ts.h.webhookSecret(p); err != nil || string(stored) != secret {
		t.Fatalf("the answered secret is not the stored one: %v", err)
	}
	if strings.Contains(string(p.WebhookSecretSealed), secret) {
		t.Fatal("the webhook secret is stored in clear")
	}

	t.Run("creating is audited without the secret", func(t *testing.T) {
		evs, err := ts.store.AuditEvents(context.Background(), models.AuditFilter{Action: models.AuditProjectCreate})
		if err != nil || len(evs) != 1 || evs[0].ObjectID != "web-shop" || evs[0].ActorName != "dev" {
			t.Fatalf("audit: %v %+v", err, evs)
		}
		if strings.Contains(evs[0].Details, secret) || !strings.Contains(evs[0].Details, `"default_branch":"trunk"`) {
			t.Fatalf("audit details: %s", evs[0].Details)
		}
	})
	t.Run("reading a project never shows its secret", func(t *testing.T) {
		for _, path := range []string{"/api/v1/projects/web-shop", "/api/v1/projects"} {
			resp, body := ts.do(http.MethodGet, path, reqOpts{token: viewer})
			if resp.StatusCode != 200 || !strings.Contains(body, `"slug":"web-shop"`) {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
			}
			if strings.Contains(body, secret) || strings.Contains(body, "webhook_secret") {
				t.Fatalf("GET %s shows the secret: %s", path, body)
			}
		}
	})
	t.Run("an unknown project is 404", func(t *testing.T) {
		resp, body := ts.do(http.MethodGet, "/api/v1/projects/nope", reqOpts{token: viewer})
		if resp.StatusCode != 404 || !strings.Contains(body, "nope") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	for _, tc := range []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"a missing name is 422 naming the field", `{"repo_url":"https://h/x.git"}`, 422, "name"},
		{"a bad URL is 422 naming the field", `{"name":"x","repo_url":"ftp://h/x.git"}`, 422, "repo_url"},
		{"a bad branch is 422 naming the field", `{"name":"x","repo_url":"https://h/x.git","default_branch":"a..b"}`, 422, "default_branch"},
		{"a bad poll interval is 422 naming the field", `{"name":"x","repo_url":"https://h/x.git","poll_interval":-1}`, 422, "poll_interval"},
		{"a taken slug is 409", `{"name":"Web shop","repo_url":"https://h/x.git"}`, 409, "slug"},
		{"a local path is forbidden to a developer", `{"name":"x","repo_url":"/srv/git/x"}`, 403, "repo_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := post(dev, tc.body)
			if resp.StatusCode != tc.status || got["field"] != tc.field || !strings.HasPrefix(got["error"].(string), tc.field) {
				t.Fatalf("got %d %v, want %d on %s", resp.StatusCode, got, tc.status, tc.field)
			}
		})
	}
	t.Run("bad JSON is 400", func(t *testing.T) {
		resp, _ := ts.do(http.MethodPost, "/api/v1/projects", reqOpts{token: dev, body: `{"name":`, ctype: "application/json"})
		if resp.StatusCode != 400 {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("SLIPWAY_PUBLIC_URL sets the webhook URL", func(t *testing.T) {
		ts.h.cfg.PublicURL = "https://ci.example.com"
		defer func() { ts.h.cfg.PublicURL = "" }()
		resp, body := ts.do(http.MethodGet, "/api/v1/projects/web-shop", reqOpts{token: viewer})
		if resp.StatusCode != 200 || !strings.Contains(body, `"webhook_url":"https://ci.example.com/hooks/web-shop"`) {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}

func TestWebhookSecretIsShownToAdminsAndLeadsOnly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, secret := ts.linkProject("app", newGitFixture(t).Dir)
	for _, role := range auth.Roles {
		t.Run(string(role), func(t *testing.T) {
			resp, body := ts.do(http.MethodGet, "/projects/app", reqOpts{session: ts.session(ts.user("u-"+string(role), role))})
			if resp.StatusCode != 200 {
				t.Fatalf("project page: %d", resp.StatusCode)
			}
			if !strings.Contains(body, ts.srv.URL+"/hooks/app") {
				t.Fatal("the page does not show the absolute webhook URL")
			}
			shown := strings.Contains(body, secret)
			if want := role == auth.Admin || role == auth.Lead; shown != want {
				t.Fatalf("secret shown = %v, want %v", shown, want)
			}
			if !shown && !strings.Contains(body, `data-testid="webhook-secret-hidden"`) {
				t.Fatal("others must see that the secret is hidden")
			}
			runBuild := strings.Contains(body, `data-testid="run-build-form"`)
			if want := auth.Can(role, auth.RunBuild); runBuild != want {
				t.Fatalf("run build form shown = %v, want %v", runBuild, want)
			}
		})
	}
}

func TestProjectsListAndEmptyState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dev := ts.session(ts.user("dev", auth.Developer))
	viewer := ts.session(ts.user("viewer", auth.Viewer))
	_, body := ts.do(http.MethodGet, "/projects", reqOpts{session: dev})
	if !strings.Contains(body, `data-testid="empty"`) || !strings.Contains(body, `href="/projects/new"`) {
		t.Fatalf("the empty state must offer to link a repository:\n%s", body)
	}
	_, body = ts.do(http.MethodGet, "/projects", reqOpts{session: viewer})
	if strings.Contains(body, `href="/projects/new"`) || !strings.Contains(body, "Ask a developer") {
		t.Fatal("a viewer's empty state must say who can link one, without the link")
	}
	ts.linkProject("app", "https://user:hunter2secret@git.example.com/app.git")
	_, body = ts.do(http.MethodGet, "/projects", reqOpts{session: viewer})
	if !strings.Contains(body, `data-testid="project-app"`) || !strings.Contains(body, "none yet") {
		t.Fatalf("the list must show the project:\n%s", body)
	}
	if strings.Contains(body, "hunter2secret") {
		t.Fatal("credentials in the repository URL must be redacted")
	}
	resp, _ := ts.do(http.MethodGet, "/projects/new", reqOpts{session: dev})
	if resp.StatusCode != 200 {
		t.Fatalf("new project form: %d", resp.StatusCode)
	}
	resp, _ = ts.do(http.MethodGet, "/projects/nope", reqOpts{session: dev})
	if resp.StatusCode != 404 {
		t.Fatalf("unknown project page: %d", resp.StatusCode)
	}
}

func TestCheckConnection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.session(ts.user("root", auth.Admin))
	dev := ts.session(ts.user("dev", auth.Developer))
	repo := newGitFixture(t)
	repo.git("branch", "feature")
	empty := newGitFixture(t)
	empty.git("update-ref", "-d", "refs/heads/main")
	// A server that asks for credentials, as a private repository does.
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "auth required", http.StatusUnauthorized)
	}))
	defer private.Close()

	for _, tc := range []struct {
		name    string
		session string
		form    url.Values
		ok      bool
		want    string
	}{
		{"a reachable repository with the branch is OK", admin, projectForm("repo_url", repo.Dir), true, "2 branches and 0 tags"},
		{"a file URL works too", admin, projectForm("repo_url", "file://"+repo.Dir), true, "default branch \"main\""},
		{"a missing default branch is named", admin, projectForm("repo_url", repo.Dir, "default_branch", "develop"), false, `no branch "develop" (its branches: feature, main)`},
		{"a nonexistent path is not reachable", admin, projectForm("repo_url", filepath.Join(t.TempDir(), "missing")), false, "not found or not reachable"},
		{"an empty repository says to push first", admin, projectForm("repo_url", empty.Dir), false, "no branches yet"},
		{"a refused login is explained", admin, projectForm("repo_url", private.URL+"/team/app.git"), false, "authentication refused"},
		{"a developer may not probe loopback services", dev, projectForm("repo_url", private.URL+"/team/app.git"), false, "repository not found or not reachable"},
		{"a wrong URL is named", dev, projectForm("repo_url", "not a url"), false, "invalid repository URL"},
		{"a developer may not probe local paths", dev, projectForm("repo_url", repo.Dir), false, "only admins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, "/projects/check", reqOpts{session: tc.session, csrf: true, form: tc.form})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.ok != strings.Contains(body, `data-testid="check-ok"`) {
				t.Fatalf("ok = %v, want %v: %s", !tc.ok, tc.ok, body)
			}
			if !strings.Contains(body, tc.want) && !strings.Contains(body, htmlEscape(tc.want)) {
				t.Fatalf("want %q in:\n%s", tc.want, body)
			}
			if strings.Contains(body, "<html") {
				t.Fatal("the check answers with a fragment, not a page")
			}
		})
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func TestBranchesAndRunBuild(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	repo := newGitFixture(t)
	repo.git("branch", "feature")
	p, _ := ts.linkProject("app", repo.Dir)
	dev := ts.session(ts.user("dev", auth.Developer))
	qa := ts.session(ts.user("qa", auth.QA))

	_, body := ts.do(http.MethodGet, "/projects/app/branches", reqOpts{session: qa})
	for _, want := range []string{`data-testid="branch-main"`, `data-testid="branch-feature"`, repo.head("main")[:10], "not built yet"} {
		if !strings.Contains(body, want) {
			t.Fatalf("branches fragment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `name="ref"`) {
		t.Fatal("QA cannot run builds, so the fragment must not offer it")
	}

	resp, _ := ts.do(http.MethodPost, "/projects/app/builds", reqOpts{session: dev, csrf: true, form: url.Values{"ref": {"feature"}}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/builds/") {
		t.Fatalf("run build: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := ts.countBuilds(p.ID); n != 1 {
		t.Fatalf("%d builds, want 1", n)
	}
	b, err := ts.store.LatestBuildForRef(context.Background(), p.ID, "feature")
	if err != nil || b.CommitSHA != repo.head("feature") || b.Trigger != "manual" || b.TriggeredByID == nil {
		t.Fatalf("build: %v %+v", err, b)
	}
	if resp.Header.Get("Location") != "/builds/"+itoa(b.ID) {
		t.Fatalf("redirect to %q, want the build", resp.Header.Get("Location"))
	}
	_, body = ts.do(http.MethodGet, "/projects/app/branches", reqOpts{session: dev})
	if !strings.Contains(body, `href="/builds/`+itoa(b.ID)+`"`) || !strings.Contains(body, `aria-label="Build main"`) {
		t.Fatalf("the branch must list its build, and offer to build:\n%s", body)
	}

	t.Run("an unknown ref is explained and builds nothing", func(t *testing.T) {
		resp, _ := ts.do(http.MethodPost, "/projects/app/builds", reqOpts{session: dev, csrf: true, form: url.Values{"ref": {"no-such-branch"}}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/app" {
			t.Fatalf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		var flash string
		for _, ck := range resp.Cookies() {
			if ck.Name == flashCookie {
				flash = ck.Value
			}
		}
		if fl := decodeFlash(flash); len(fl) != 1 || fl[0].Kind != "error" || !strings.Contains(fl[0].Message, "no-such-branch") {
			t.Fatalf("want an error message naming the ref for the next page, got %+v", fl)
		}
		if n := ts.countBuilds(p.ID); n != 1 {
			t.Fatalf("%d builds, want still 1", n)
		}
	})
	t.Run("an unreachable repository is shown on the page, not as an error", func(t *testing.T) {
		gone := newGitFixture(t)
		ts.linkProject("gone", gone.Dir+"-moved")
		resp, body := ts.do(http.MethodGet, "/projects/gone/branches", reqOpts{session: dev})
		if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="branches-error"`) || !strings.Contains(body, "not reachable") {
			t.Fatalf("got %d:\n%s", resp.StatusCode, body)
		}
	})
}
