package handlers

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/examples"
	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/demo"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// demoServer is a test server with a demo directory and a signed-in admin.
func demoServer(t *testing.T) (*testServer, string) {
	t.Helper()
	ts := newTestServer(t)
	ts.h.cfg.DemoDir = filepath.Join(t.TempDir(), "demo")
	return ts, ts.session(ts.user("root", auth.Admin))
}

// flashOf returns the flash message a response sets ("kind: message").
func flashOf(resp *http.Response) string {
	for _, ck := range resp.Cookies() {
		if ck.Name == flashCookie && ck.Value != "" {
			var parts []string
			for _, f := range decodeFlash(ck.Value) {
				parts = append(parts, f.Kind+": "+f.Message)
			}
			return strings.Join(parts, " | ")
		}
	}
	return ""
}

// cookieOf returns the value of the cookie name a response sets.
func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// counts is how many projects, users and builds the store holds.
func counts(t *testing.T, s *models.Store) (projects, users, builds int) {
	t.Helper()
	ctx := context.Background()
	ps, err := s.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	us, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := s.Builds(ctx, models.BuildFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ps), len(us), len(bs)
}

func TestCreateDemoProject(t *testing.T) {
	ts, admin := demoServer(t)
	ctx := context.Background()

	resp, body := ts.do(http.MethodGet, "/", reqOpts{session: admin})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="demo-offer"`) {
		t.Fatalf("the dashboard of a portal without projects offers no demo (%d):\n%s", resp.StatusCode, body)
	}

	resp, _ = ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/demo" {
		t.Fatalf("POST /demo = %d → %q (%s), want 303 → /demo", resp.StatusCode, resp.Header.Get("Location"), flashOf(resp))
	}
	if f := flashOf(resp); !strings.HasPrefix(f, "success: ") || !strings.Contains(f, "build #1 is running") {
		t.Errorf("flash %q", f)
	}
	lead := cookieOf(resp, demoLeadCookie)
	if lead == nil || lead.Path != "/demo" || !lead.HttpOnly || lead.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the lead's password cookie is %+v, want an HttpOnly, SameSite=Strict cookie for /demo", lead)
	}

	p, err := ts.store.ProjectBySlug(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the project is hosted, its repository holds the sample app, and it is the demo", func(t *testing.T) {
		if !p.Hosted || p.RepoURL != "" || p.DefaultBranch != "main" || p.Name != demoName {
			t.Errorf("project %+v", p)
		}
		if v, err := demo.Version(ctx, ts.h.jobs.RepoDir(p)); err != nil || v != "v1" {
			t.Errorf("the hosted repository's version is %q, %v", v, err)
		}
		if _, err := os.Stat(filepath.Join(ts.h.cfg.DemoDir, "hello")); !os.IsNotExist(err) {
			t.Errorf("a linked demo repository was written too: %v", err)
		}
		if !ts.h.isDemo(p) {
			t.Error("the hosted project is not recognised as the demo")
		}
	})
	t.Run("production needs a lead's approval and a passing staging load test; dev auto-deploys main", func(t *testing.T) {
		_, envs, err := ts.store.ProjectEnvironments(ctx, p.Slug)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]models.Environment{}
		for _, e := range envs {
			got[e.Name] = e
		}
		prod := got["production"]
		if !prod.Protected || prod.ApprovalsRequired != 1 || !strings.Contains(prod.ApproverRoles, "lead") || !prod.RequireLoadTest || prod.AllowSelfApproval {
			t.Errorf("production %+v", prod)
		}
		if got["dev"].AutoDeployBranch != "main" || got["staging"].RequireLoadTest {
			t.Errorf("dev %+v, staging %+v", got["dev"], got["staging"])
		}
	})
	t.Run("staging has a short load-test plan", func(t *testing.T) {
		plans, err := ts.store.LoadTestPlans(ctx)
		if err != nil || len(plans) != 1 {
			t.Fatalf("plans %v, %v", plans, err)
		}
		pl := plans[0]
		if pl.Name != demoPlanName || pl.Environment.Name != "staging" || pl.Duration > 10e9 || pl.Rate > 50 || pl.MinSuccessRatio == 0 || pl.ThresholdP95 == 0 {
			t.Errorf("plan %+v", pl)
		}
	})
	t.Run("a lead user exists and the first build is queued", func(t *testing.T) {
		u, err := ts.store.UserByName(ctx, "lead")
		if err != nil || u.Role != string(auth.Lead) {
			t.Fatalf("lead user %+v, %v", u, err)
		}
		bs, err := ts.store.Builds(ctx, models.BuildFilter{ProjectID: p.ID})
		if err != nil || len(bs) != 1 || bs[0].Ref != "main" || bs[0].CommitAuthor != demo.AuthorName || bs[0].CommitMessage != demo.FirstCommitMessage {
			t.Fatalf("builds %+v, %v", bs, err)
		}
	})
	t.Run("the guide shows the lead's password once, and it signs in", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/demo", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: admin})
		req.AddCookie(&http.Cookie{Name: demoLeadCookie, Value: lead.Value})
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		raw, _ := io.ReadAll(r.Body)
		body := string(raw)
		if !strings.Contains(body, `data-testid="demo-lead-password"`) {
			t.Fatalf("the first view of /demo lacks the password:\n%s", body)
		}
		if ck := cookieOf(r, demoLeadCookie); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("the first view does not clear the password cookie: %+v", ck)
		}
		pw := between(body, `data-testid="demo-lead-password">`, "<")
		u, _ := ts.store.UserByName(ctx, "lead")
		if !auth.CheckPassword(u.PasswordHash, pw) {
			t.Errorf("the password shown (%q) does not sign the lead in", pw)
		}
		// A later view (its browser no longer holds the cleared cookie)
		// still shows the steps.
		_, again := ts.do(http.MethodGet, "/demo", reqOpts{session: admin})
		if !strings.Contains(again, `data-testid="demo-step-build"`) {
			t.Errorf("a later view lacks the steps")
		}
	})
	t.Run("a second click creates nothing", func(t *testing.T) {
		np, nu, nb := counts(t, ts.store)
		resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(flashOf(resp), "exists already") || cookieOf(resp, demoLeadCookie) != nil {
			t.Fatalf("second POST /demo = %d, flash %q", resp.StatusCode, flashOf(resp))
		}
		if np2, nu2, nb2 := counts(t, ts.store); np2 != np || nu2 != nu || nb2 != nb {
			t.Errorf("projects %d→%d, users %d→%d, builds %d→%d", np, np2, nu, nu2, nb, nb2)
		}
	})
	t.Run("the dashboard now links the guide instead of offering a demo", func(t *testing.T) {
		_, body := ts.do(http.MethodGet, "/", reqOpts{session: admin})
		if !strings.Contains(body, `data-testid="open-demo"`) || strings.Contains(body, `data-testid="create-demo"`) {
			t.Errorf("dashboard after the demo:\n%s", body)
		}
	})
}

func TestShipADemoChange(t *testing.T) {
	ts, admin := demoServer(t)
	ctx := context.Background()
	if resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /demo = %d", resp.StatusCode)
	}
	p, err := ts.store.ProjectBySlug(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	_, page := ts.do(http.MethodGet, "/projects/hello", reqOpts{session: admin})
	if !strings.Contains(page, `data-testid="ship-change"`) || !strings.Contains(page, "v1 → v2") {
		t.Errorf("the demo project's page offers no “Ship a change (v1 → v2)”")
	}

	resp, _ := ts.do(http.MethodPost, "/demo/ship", reqOpts{session: admin, csrf: true, form: url.Values{"back": {"/projects/hello"}}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/builds/") {
		t.Fatalf("POST /demo/ship = %d → %q (%s)", resp.StatusCode, resp.Header.Get("Location"), flashOf(resp))
	}
	if f := flashOf(resp); !strings.Contains(f, "Ship v2") || !strings.Contains(f, "v1 → v2") {
		t.Errorf("flash %q", f)
	}
	repo := ts.h.jobs.RepoDir(p)
	if v, _ := demo.Version(ctx, repo); v != "v2" {
		t.Errorf("the hosted repository is at %q, want v2", v)
	}
	bs, err := ts.store.Builds(ctx, models.BuildFilter{ProjectID: p.ID})
	if err != nil || len(bs) != 2 || bs[0].CommitMessage != "Ship v2" || bs[0].Number != 2 || bs[0].Trigger != "ide" || bs[0].CommitAuthor != "root" {
		t.Fatalf("builds %+v, %v", bs, err)
	}
	if n := auditCount(t, ts.store, models.AuditCommit); n != 1 {
		t.Errorf("%d commit audit events, want 1", n)
	}

	t.Run("the IDE commits to the demo, and the button ships on top of it", func(t *testing.T) {
		head, err := gitrepo.ResolveRef(ctx, repo, "refs/heads/main")
		if err != nil {
			t.Fatal(err)
		}
		resp, body := ts.do("POST", "/projects/hello/ide/commit", reqOpts{session: admin, csrf: true, ctype: "application/json",
			body: commitJSON("main", head, "Ship v7 by hand", writeAction("update", "VERSION", "v7\n"))})
		if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"build_id"`) {
			t.Fatalf("IDE commit to the demo: %d %s", resp.StatusCode, body)
		}
		resp, _ = ts.do(http.MethodPost, "/demo/ship", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if f := flashOf(resp); !strings.Contains(f, "v7 → v8") {
			t.Fatalf("ship after an IDE commit: flash %q", f)
		}
		if v, _ := demo.Version(ctx, repo); v != "v8" {
			t.Errorf("the hosted repository is at %q, want v8", v)
		}
	})

	t.Run("a repository moved away gives a message, not a server error", func(t *testing.T) {
		if err := os.Rename(repo, repo+".moved"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(repo+".moved", repo)
		resp, _ := ts.do(http.MethodPost, "/demo/ship", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(flashOf(resp), "error: No change was shipped") {
			t.Fatalf("POST /demo/ship = %d, flash %q", resp.StatusCode, flashOf(resp))
		}
	})
}

// auditCount counts the audit events of one action.
func auditCount(t *testing.T, s *models.Store, action string) int {
	t.Helper()
	evs, err := s.AuditEvents(context.Background(), models.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestDemoLinkedBeforeHosting: a demo project made before the demo was
// hosted — linked to the repository written under the demo dir — is still
// the demo: the guide reads its version, opens the IDE read-only, and
// "Ship a change" commits in its work tree.
func TestDemoLinkedBeforeHosting(t *testing.T) {
	ts, admin := demoServer(t)
	ctx := context.Background()
	dir, err := ts.h.demoRepoDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Create(ctx, dir, examples.HelloApp()); err != nil {
		t.Fatal(err)
	}
	old := &models.Project{Slug: "hello", Name: demoName, RepoURL: dir, DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
	if err := testkit.InsertFixture(ctx, ts.store, old); err != nil {
		t.Fatal(err)
	}
	resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
	if !strings.Contains(flashOf(resp), "exists already") {
		t.Fatalf("POST /demo with a linked demo: flash %q", flashOf(resp))
	}
	_, body := ts.do(http.MethodGet, "/demo", reqOpts{session: admin})
	step := between(body, `data-testid="demo-step-ship"`, `data-testid="demo-step-rollback"`)
	if !strings.Contains(body, `data-testid="demo-version">v1<`) || !strings.Contains(step, "Read the code in the IDE") || strings.Contains(step, "Edit in the IDE") {
		t.Fatalf("the guide of a linked demo:\n%s", body)
	}
	resp, _ = ts.do(http.MethodPost, "/demo/ship", reqOpts{session: admin, csrf: true, form: url.Values{}})
	if f := flashOf(resp); !strings.Contains(f, "v1 → v2") {
		t.Fatalf("ship to a linked demo: flash %q", f)
	}
	if v, _ := demo.Version(ctx, dir); v != "v2" {
		t.Errorf("the linked repository is at %q, want v2", v)
	}
}

// TestDemoMarkerNamesOneProject: a hosted project that merely reuses the
// demo's ID (the demo was deleted) or its slug is not the demo.
func TestDemoMarkerNamesOneProject(t *testing.T) {
	ts, admin := demoServer(t)
	if resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /demo = %d", resp.StatusCode)
	}
	p, err := ts.store.ProjectBySlug(context.Background(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if !ts.h.isDemo(p) {
		t.Fatal("the demo is not recognised")
	}
	other := *p
	other.CreatedAt = p.CreatedAt.Add(-time.Hour)
	if ts.h.isDemo(&other) {
		t.Error("a project with the demo's ID but another creation time passes for the demo")
	}
	other = *p
	other.ID = p.ID + 1
	if ts.h.isDemo(&other) {
		t.Error("a hosted project with the demo's slug but another ID passes for the demo")
	}
	other = *p
	other.Hosted = false
	if ts.h.isDemo(&other) {
		t.Error("a linked project with the demo's ID passes for the demo")
	}
}

func TestDemoRefusals(t *testing.T) {
	t.Run("names in use give the demo other ones", func(t *testing.T) {
		ts, admin := demoServer(t)
		ts.user("lead", auth.Developer)
		ctx := context.Background()
		other := &models.Project{Slug: "hello", Name: "Someone's hello", RepoURL: "https://example.invalid/x.git", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
		if err := testkit.InsertFixture(ctx, ts.store, other); err != nil {
			t.Fatal(err)
		}
		resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(flashOf(resp), "success") {
			t.Fatalf("POST /demo = %d, flash %q", resp.StatusCode, flashOf(resp))
		}
		if _, err := ts.store.ProjectBySlug(ctx, "hello-demo"); err != nil {
			t.Errorf("no project hello-demo: %v", err)
		}
		if u, err := ts.store.UserByName(ctx, "lead-demo"); err != nil || u.Role != string(auth.Lead) {
			t.Errorf("no lead lead-demo: %+v, %v", u, err)
		}
		if u, _ := ts.store.UserByName(ctx, "lead"); u.Role != string(auth.Developer) {
			t.Errorf("the existing user lead became %s", u.Role)
		}
	})
	t.Run("a portal without a demo directory says so", func(t *testing.T) {
		ts := newTestServer(t)
		admin := ts.session(ts.user("root", auth.Admin))
		resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(flashOf(resp), "no demo directory") {
			t.Fatalf("POST /demo = %d, flash %q", resp.StatusCode, flashOf(resp))
		}
		if np, _, _ := counts(t, ts.store); np != 0 {
			t.Errorf("%d projects created", np)
		}
	})
	t.Run("a repository that cannot be made gives a message and leaves nothing behind", func(t *testing.T) {
		ts, admin := demoServer(t)
		hosted := filepath.Dir(ts.h.jobs.RepoDir(&models.Project{ID: 1, Hosted: true}))
		if err := os.MkdirAll(filepath.Dir(hosted), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hosted, []byte("in the way"), 0o644); err != nil {
			t.Fatal(err)
		}
		resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(flashOf(resp), "could not write its repository") {
			t.Fatalf("POST /demo = %d, flash %q", resp.StatusCode, flashOf(resp))
		}
		if np, nu, _ := counts(t, ts.store); np != 0 || nu != 1 {
			t.Errorf("%d projects and %d users after the failure, want 0 and 1", np, nu)
		}
	})
	t.Run("shipping without a demo project says so", func(t *testing.T) {
		ts, admin := demoServer(t)
		resp, _ := ts.do(http.MethodPost, "/demo/ship", reqOpts{session: admin, csrf: true, form: url.Values{}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(flashOf(resp), "no demo project") {
			t.Fatalf("POST /demo/ship = %d, flash %q", resp.StatusCode, flashOf(resp))
		}
	})
	t.Run("only admins create the demo; others see no offer", func(t *testing.T) {
		ts, _ := demoServer(t)
		lead := ts.session(ts.user("boss", auth.Lead))
		if resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: lead, csrf: true, form: url.Values{}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a lead's POST /demo = %d, want 403", resp.StatusCode)
		}
		if _, body := ts.do(http.MethodGet, "/", reqOpts{session: lead}); strings.Contains(body, "create-demo") {
			t.Errorf("a lead's dashboard offers the demo")
		}
	})
	t.Run("with projects linked, the offer is a small link", func(t *testing.T) {
		ts, admin := demoServer(t)
		other := &models.Project{Slug: "shop", Name: "Shop", RepoURL: "https://example.invalid/x.git", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
		if err := testkit.InsertFixture(context.Background(), ts.store, other); err != nil {
			t.Fatal(err)
		}
		_, body := ts.do(http.MethodGet, "/", reqOpts{session: admin})
		if strings.Contains(body, `data-testid="demo-offer"`) || !strings.Contains(body, `data-testid="demo-offer-small"`) {
			t.Errorf("dashboard with a project:\n%s", body)
		}
	})
}

// between returns the text after start up to end.
func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}

// TestDemoShipStepOffersTheIDE: the guide's "Ship a change" offers to
// edit VERSION in the IDE, since the demo repository is hosted (a linked
// demo's step only reads it; see TestDemoLinkedBeforeHosting).
func TestDemoShipStepOffersTheIDE(t *testing.T) {
	ts, admin := demoServer(t)
	resp, _ := ts.do(http.MethodPost, "/demo", reqOpts{session: admin, csrf: true, form: url.Values{}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /demo = %d (%s)", resp.StatusCode, flashOf(resp))
	}
	_, body := ts.do(http.MethodGet, "/demo", reqOpts{session: admin})
	step := between(body, `data-testid="demo-step-ship"`, `data-testid="demo-step-rollback"`)
	if !strings.Contains(step, `href="/projects/hello/ide?path=VERSION"`) || !strings.Contains(step, "Edit in the IDE") {
		t.Fatalf("the demo's ship step does not offer to edit VERSION in the IDE:\n%s", step)
	}
	if strings.Contains(step, "Read the code") {
		t.Fatal("the hosted demo's ship step says the IDE only reads it")
	}
	if !strings.Contains(body, "git clone "+ts.srv.URL+"/git/hello.git") {
		t.Errorf("the guide does not give the hosted repository's clone URL")
	}
	_, ide := ts.do(http.MethodGet, "/projects/hello/ide?path=VERSION", reqOpts{session: admin})
	if strings.Contains(ide, `data-testid="read-only"`) || !strings.Contains(ide, "VERSION") {
		t.Errorf("the IDE opens the demo read-only")
	}
}
