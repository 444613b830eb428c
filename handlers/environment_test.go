package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// envFixture is a project with the default environments, a deployable
// build, and releases in dev: #1 superseded, #2 live.
type envFixture struct {
	project *models.Project
	envs    map[string]*models.Environment
	build   *models.Build
	r1, r2  *models.Release
}

func seedEnvironments(t *testing.T, ts *testServer) *envFixture {
	t.Helper()
	ctx := context.Background()
	s := ts.store
	f := &envFixture{envs: map[string]*models.Environment{}}
	f.project = &models.Project{Slug: "shop", Name: "Shop", RepoURL: "file:///shop", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 3}
	if err := testkit.InsertFixture(ctx, s, f.project); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDefaultEnvironments(ctx, f.project.ID, "main"); err != nil {
		t.Fatal(err)
	}
	_, envs, err := s.ProjectEnvironments(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for i := range envs {
		f.envs[envs[i].Name] = &envs[i]
	}
	sha1, sha2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	f.build = &models.Build{ProjectID: f.project.ID, Number: 2, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("c", 40),
		CommitMessage: "Add <script>alert(1)</script> checkout", Trigger: "manual", Status: models.BuildSucceeded, ArtifactSHA256: &sha2}
	old := &models.Build{ProjectID: f.project.ID, Number: 1, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("b", 40),
		Trigger: "manual", Status: models.BuildSucceeded, ArtifactSHA256: &sha1}
	if err := testkit.InsertFixture(ctx, s, &models.Artifact{SHA256: sha1, Size: 1}, &models.Artifact{SHA256: sha2, Size: 1}, old, f.build); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	dev := f.envs["dev"].ID
	f.r1 = &models.Release{EnvironmentID: dev, BuildID: &old.ID, ArtifactSHA256: sha1, ConfigVersion: 1, Status: models.ReleaseSuperseded,
		Reason: models.ReasonDeploy, FinishedAt: &now, InstanceReleaseID: new(int64)}
	f.r2 = &models.Release{EnvironmentID: dev, BuildID: &f.build.ID, ArtifactSHA256: sha2, ConfigVersion: 1, Status: models.ReleaseLive,
		Reason: models.ReasonDeploy, FinishedAt: &now, Output: "", ConfigSummary: `[{"name":"GREETING","value":"hi"},{"name":"TOKEN","secret":true}]`}
	for _, r := range []*models.Release{f.r1, f.r2} {
		if err := s.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestDeployAndRollbackAPI(t *testing.T) {
	ts := newTestServer(t)
	f := seedEnvironments(t, ts)
	dev, _ := ts.token(ts.user("dora", auth.Developer))
	lead, _ := ts.token(ts.user("lee", auth.Lead))
	viewer, _ := ts.token(ts.user("vic", auth.Viewer))

	for _, tc := range []struct {
		name, token, path, body string
		status                  int
		want                    string
	}{
		{"a developer deploys a build to dev", dev, "/api/v1/projects/shop/environments/dev/deploys", `{"build_id":` + itoa(f.build.ID) + `}`, 201, `"status":"pending"`},
		{"a developer deploys an artifact by digest", dev, "/api/v1/projects/shop/environments/staging/deploys", `{"artifact_sha256":"` + *f.build.ArtifactSHA256 + `"}`, 201, `"environment":"staging"`},
		{"a developer may not deploy to protected production", dev, "/api/v1/projects/shop/environments/production/deploys", `{"build_id":` + itoa(f.build.ID) + `}`, 403, "production is protected"},
		{"a lead deploys to production with a reason", lead, "/api/v1/projects/shop/environments/production/deploys", `{"build_id":` + itoa(f.build.ID) + `,"reason":"hotfix"}`, 201, `"artifact_sha256":"` + *f.build.ArtifactSHA256},
		{"a lead may not deploy to protected production without a reason", lead, "/api/v1/projects/shop/environments/production/deploys", `{"build_id":` + itoa(f.build.ID) + `}`, 400, "needs a reason"},
		{"a viewer may not deploy", viewer, "/api/v1/projects/shop/environments/dev/deploys", `{"build_id":1}`, 403, ""},
		{"an unknown build is a 404", dev, "/api/v1/projects/shop/environments/dev/deploys", `{"build_id":999}`, 404, "no build 999"},
		{"a bad digest is a 400", dev, "/api/v1/projects/shop/environments/dev/deploys", `{"artifact_sha256":"zz"}`, 400, "64 hexadecimal"},
		{"an empty request is a 400", dev, "/api/v1/projects/shop/environments/dev/deploys", `{}`, 400, "build_id or artifact_sha256"},
		{"an unknown environment is a 404", dev, "/api/v1/projects/shop/environments/nope/deploys", `{"build_id":1}`, 404, "no environment nope"},
		{"rolling back to the live release is refused", dev, "/api/v1/projects/shop/environments/dev/rollback", `{"release_id":` + itoa(f.r2.ID) + `}`, 409, "is what runs now"},
		{"rolling back production with nothing live is refused", lead, "/api/v1/projects/shop/environments/production/rollback", ``, 409, "nothing is live"},
		{"a developer rolls dev back to the previous good release", dev, "/api/v1/projects/shop/environments/dev/rollback", ``, 201, `"reason":"rollback"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, tc.path, reqOpts{token: tc.token, body: tc.body, ctype: "application/json"})
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}

	rels, _ := ts.store.Releases(context.Background(), f.envs["dev"].ID, 0)
	rb := rels[0]
	if rb.Reason != models.ReasonRollback || rb.SourceReleaseID == nil || *rb.SourceReleaseID != f.r1.ID || *rb.RollbackOfID != f.r2.ID {
		t.Fatalf("the rollback must restore #%d and replace #%d: %+v", f.r1.ID, f.r2.ID, rb)
	}
	for action, want := range map[string]int{models.AuditDeploy: 3, models.AuditRollback: 1} {
		evs, err := ts.store.AuditEvents(context.Background(), models.AuditFilter{Action: action})
		if err != nil || len(evs) != want {
			t.Errorf("%s must leave %d audit events (one per accepted request), got %d (%v)", action, want, len(evs), err)
		}
	}
	resp, body := ts.do(http.MethodGet, "/api/v1/releases/"+itoa(rb.ID), reqOpts{token: viewer})
	var got map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got["status"] != "pending" || got["environment"] != "dev" {
		t.Fatalf("GET release: %d %s", resp.StatusCode, body)
	}
	if w, _ := got["waiting_for"].(float64); int64(w) == 0 {
		t.Errorf("a pending release behind another one must say what it waits for: %s", body)
	}
	resp, body = ts.do(http.MethodGet, "/api/v1/projects/shop/environments/dev/releases", reqOpts{token: viewer})
	if resp.StatusCode != 200 || strings.Count(body, `"id":`) != 4 {
		t.Fatalf("releases of dev: %d %s", resp.StatusCode, body)
	}
}

func TestEnvironmentsAPIListsTheChainWithWhatIsLive(t *testing.T) {
	ts := newTestServer(t)
	f := seedEnvironments(t, ts)
	tok, _ := ts.token(ts.user("vic", auth.Viewer))
	resp, body := ts.do(http.MethodGet, "/api/v1/projects/shop/environments", reqOpts{token: tok})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var envs []struct {
		Name        string         `json:"name"`
		Position    int            `json:"position"`
		URL         string         `json:"url"`
		Protected   bool           `json:"protected"`
		LiveRelease map[string]any `json:"live_release"`
	}
	if err := json.Unmarshal([]byte(body), &envs); err != nil {
		t.Fatal(err)
	}
	if len(envs) != 3 || envs[0].Name != "dev" || envs[2].Name != "production" || !envs[2].Protected || envs[1].Position != 2 {
		t.Fatalf("chain: %s", body)
	}
	if envs[0].LiveRelease == nil || envs[0].LiveRelease["id"].(float64) != float64(f.r2.ID) || envs[1].LiveRelease != nil {
		t.Fatalf("live releases: %s", body)
	}
	if resp, _ := ts.do(http.MethodGet, "/api/v1/projects/nope/environments", reqOpts{token: tok}); resp.StatusCode != 404 {
		t.Fatalf("unknown project: %d", resp.StatusCode)
	}
}

func TestEnvironmentPages(t *testing.T) {
	ts := newTestServer(t)
	f := seedEnvironments(t, ts)
	admin := ts.session(ts.user("ada", auth.Admin))
	dev := ts.session(ts.user("dora", auth.Developer))
	for _, tc := range []struct {
		name, session, path string
		want, notWant       []string
	}{
		{"the overview shows every environment with what is live", dev, "/environments",
			[]string{`data-testid="env-card-dev"`, `data-testid="env-card-production"`, "release #" + itoa(f.r2.ID), "Nothing deployed yet"}, []string{"add-env-form"}},
		{"admins can add environments from the overview", admin, "/environments", []string{"add-env-form"}, nil},
		{"the environment page shows the live release and a rollback button", dev, "/projects/shop/environments/dev",
			[]string{`data-testid="live-release"`, "Roll back to #" + itoa(f.r1.ID), "&lt;script&gt;", `data-testid="release-history"`}, []string{"<script>alert", "env-settings"}},
		{"protected production offers a developer no rollback", dev, "/projects/shop/environments/production", []string{"protected", "no-live"}, []string{`data-testid="rollback"`}},
		{"the release page lists its variables without secret values", dev, "/releases/" + itoa(f.r2.ID),
			[]string{"GREETING=", "hi", "(secret)", `data-testid="release-status"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodGet, tc.path, reqOpts{session: tc.session})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page must not contain %q", w)
				}
			}
		})
	}
}

func TestSecretsAreNeverShownBack(t *testing.T) {
	ts := newTestServer(t)
	ts.h.secrets = plainBox{}
	seedEnvironments(t, ts)
	admin := ts.session(ts.user("ada", auth.Admin))
	for _, form := range []url.Values{
		{"name": {"GREETING"}, "value": {"hello"}},
		{"name": {"API_KEY"}, "value": {"very-secret-value"}, "secret": {"true"}},
	} {
		resp, _ := ts.do(http.MethodPost, "/projects/shop/environments/dev/variables", reqOpts{session: admin, csrf: true, form: form})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("set variable: %d", resp.StatusCode)
		}
	}
	vars, _ := ts.store.EnvironmentVariables(context.Background(), 1)
	for _, v := range vars {
		if v.Secret && (v.Value != "" || strings.Contains(string(v.ValueSealed), "very-secret")) {
			t.Fatalf("a secret must be stored sealed only: %+v", v)
		}
	}
	resp, body := ts.do(http.MethodGet, "/projects/shop/environments/dev/settings", reqOpts{session: admin})
	if resp.StatusCode != 200 || !strings.Contains(body, "hello") || !strings.Contains(body, "secret set") || strings.Contains(body, "very-secret-value") {
		t.Fatalf("settings page: %d; must show the plain value, not the secret", resp.StatusCode)
	}
	env, _ := ts.store.Environment(context.Background(), 1)
	if env.ConfigVersion != 3 {
		t.Errorf("two changes must make config v3, got v%d", env.ConfigVersion)
	}
	resp, _ = ts.do(http.MethodPost, "/projects/shop/environments/dev/variables", reqOpts{session: admin, csrf: true, form: url.Values{"name": {"PORT"}, "value": {"1"}}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "/settings") {
		t.Fatalf("PORT must be refused with a message: %d %s", resp.StatusCode, loc)
	}
}

// plainBox "seals" by reversing bytes under a prefix: enough to prove the
// handlers seal and never render what they sealed.
type plainBox struct{}

func (plainBox) Seal(p, ad []byte) []byte {
	out := append([]byte("sealed:"), ad...)
	for i := len(p) - 1; i >= 0; i-- {
		out = append(out, p[i])
	}
	return out
}

func (plainBox) Open(s, ad []byte) ([]byte, error) { return nil, nil }

func TestEnvironmentChangesAreAuditedWithoutValues(t *testing.T) {
	ts := newTestServer(t)
	ts.h.secrets = plainBox{}
	seedEnvironments(t, ts)
	admin := ts.session(ts.user("ada", auth.Admin))
	posts := []struct {
		path string
		form url.Values
	}{
		{"/projects/shop/environments/dev/variables", url.Values{"name": {"GREETING"}, "value": {"plain-value-1"}}},
		{"/projects/shop/environments/dev/variables", url.Values{"name": {"API_KEY"}, "value": {"secret-value-2"}, "secret": {"true"}}},
		{"/projects/shop/environments/dev/variables/delete", url.Values{"name": {"GREETING"}}},
		{"/projects/shop/environments/dev/settings", url.Values{"name": {"dev"}, "target": {"process"}, "auto_deploy_branch": {"main"}, "protected": {"true"}}},
		{"/projects/shop/environments", url.Values{"name": {"qa"}}},
	}
	for _, p := range posts {
		resp, body := ts.do(http.MethodPost, p.path, reqOpts{session: admin, csrf: true, form: p.form})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d %s", p.path, resp.StatusCode, body)
		}
	}
	events, err := ts.store.AuditEvents(context.Background(), models.AuditFilter{Action: "", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range events {
		got[e.Action] += e.Details
	}
	for _, want := range []struct{ action, detail string }{
		{models.AuditVariableSet, `"name":"GREETING"`},
		{models.AuditVariableSet, `"removed":true`},
		{models.AuditSecretSet, `"name":"API_KEY"`},
		{models.AuditEnvUpdate, `"protected":[false,true]`},
		{models.AuditEnvCreate, `"environment":"qa"`},
	} {
		if !strings.Contains(got[want.action], want.detail) {
			t.Errorf("audit %s lacks %s; got %q", want.action, want.detail, got[want.action])
		}
	}
	for action, details := range got {
		if strings.Contains(details, "plain-value-1") || strings.Contains(details, "secret-value-2") {
			t.Errorf("audit %s carries a variable's value: %s", action, details)
		}
	}
}
