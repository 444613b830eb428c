package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// promoServer is a test server with the people of the policy matrix.
type promoServer struct {
	ts      *testServer
	users   map[string]*models.User
	tokens  map[string]string
	session map[string]string
}

func newPromoServer(t *testing.T) *promoServer {
	t.Helper()
	ts := newTestServer(t)
	s := &promoServer{ts: ts, users: map[string]*models.User{}, tokens: map[string]string{}, session: map[string]string{}}
	for name, role := range map[string]auth.Role{"dora": auth.Developer, "lena": auth.Lead, "leo": auth.Lead, "cora": auth.Lead,
		"root": auth.Admin, "quinn": auth.QA, "vic": auth.Viewer} {
		u := ts.user(name, role)
		s.users[name] = u
		s.tokens[name], _ = ts.token(u)
		s.session[name] = ts.session(u)
	}
	return s
}

// promoFixture is one project of a promoServer: dev → staging →
// production, a build by "cora" live in staging, an older one live in dev.
type promoFixture struct {
	*promoServer
	slug   string
	envs   map[string]*models.Environment
	devRel *models.Release
	staged *models.Release
	build  *models.Build
}

// project seeds a fresh project named slug.
func (s *promoServer) project(t *testing.T, slug string) *promoFixture {
	t.Helper()
	ctx := context.Background()
	st := s.ts.store
	f := &promoFixture{promoServer: s, slug: slug, envs: map[string]*models.Environment{}}
	p := &models.Project{Slug: slug, Name: slug, RepoURL: "file:///" + slug, DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 3}
	if err := testkit.InsertFixture(ctx, st, p); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDefaultEnvironments(ctx, p.ID, "main"); err != nil {
		t.Fatal(err)
	}
	_, envs, err := st.ProjectEnvironments(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	for i := range envs {
		f.envs[envs[i].Name] = &envs[i]
	}
	digest := func(n string) string {
		sum := sha256.Sum256([]byte(slug + n))
		return hex.EncodeToString(sum[:])
	}
	oldSHA, sha := digest("old"), digest("new")
	old := &models.Build{ProjectID: p.ID, Number: 1, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("b", 40),
		CommitAuthor: "Dora Dev", CommitMessage: "First", Trigger: "manual", Status: models.BuildSucceeded, ArtifactSHA256: &oldSHA}
	f.build = &models.Build{ProjectID: p.ID, Number: 2, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("d", 40),
		CommitAuthor: "Cora Lead", CommitAuthorEmail: "cora@example.com", CommitMessage: "Faster checkout", Trigger: "manual",
		Status: models.BuildSucceeded, ArtifactSHA256: &sha}
	if err := testkit.InsertFixture(ctx, st, &models.Artifact{SHA256: oldSHA, Size: 1}, &models.Artifact{SHA256: sha, Size: 1}, old, f.build); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	f.devRel = &models.Release{EnvironmentID: f.envs["dev"].ID, BuildID: &old.ID, ArtifactSHA256: oldSHA, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonDeploy, FinishedAt: &now}
	f.staged = &models.Release{EnvironmentID: f.envs["staging"].ID, BuildID: &f.build.ID, ArtifactSHA256: sha, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonDeploy, FinishedAt: &now, ConfigSummary: `[{"name":"GREETING","value":"hi"}]`}
	for _, r := range []*models.Release{f.devRel, f.staged} {
		if err := st.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// via says how a test acts: through the JSON API or the browser forms.
type via string

const (
	viaAPI via = "api"
	viaUI  via = "ui"
)

// promote asks for staging (or env) to go to the next environment.
func (f *promoFixture) promote(t *testing.T, how via, who, env string) (int, string, int64) {
	t.Helper()
	var resp *http.Response
	var body string
	if how == viaAPI {
		resp, body = f.ts.do(http.MethodPost, "/api/v1/projects/"+f.slug+"/environments/"+env+"/promote", reqOpts{token: f.tokens[who]})
	} else {
		resp, body = f.ts.do(http.MethodPost, "/projects/"+f.slug+"/environments/"+env+"/promote", reqOpts{session: f.session[who], csrf: true, form: url.Values{}})
	}
	var id int64
	if how == viaAPI && resp.StatusCode == http.StatusCreated {
		var got struct{ ID int64 }
		_ = json.Unmarshal([]byte(body), &got)
		id = got.ID
	}
	if how == viaUI && resp.StatusCode == http.StatusSeeOther {
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/promotions/") {
			t.Fatalf("promote redirected to %q", loc)
		}
		id = mustInt(t, strings.TrimPrefix(loc, "/promotions/"))
	}
	return resp.StatusCode, body, id
}

// decide approves or rejects (action "approve" or "reject").
func (f *promoFixture) decide(t *testing.T, how via, who string, id int64, action, comment string) (int, string) {
	t.Helper()
	if how == viaAPI {
		b, _ := json.Marshal(map[string]string{"comment": comment})
		resp, body := f.ts.do(http.MethodPost, "/api/v1/promotions/"+itoa(id)+"/"+action, reqOpts{token: f.tokens[who], body: string(b), ctype: "application/json"})
		return resp.StatusCode, body
	}
	resp, body := f.ts.do(http.MethodPost, "/promotions/"+itoa(id)+"/"+action, reqOpts{session: f.session[who], csrf: true, form: url.Values{"comment": {comment}}})
	return resp.StatusCode, body
}

func (f *promoFixture) promotion(t *testing.T, id int64) *models.Promotion {
	t.Helper()
	p, err := f.ts.store.Promotion(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *promoFixture) setPolicy(t *testing.T, env string, fn func(e *models.Environment)) {
	t.Helper()
	e, err := f.ts.store.Environment(context.Background(), f.envs[env].ID)
	if err != nil {
		t.Fatal(err)
	}
	fn(e)
	if err := f.ts.store.UpdateEnvironmentPolicy(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// productionReleases counts releases in production.
func (f *promoFixture) productionReleases(t *testing.T) []models.Release {
	t.Helper()
	rs, err := f.ts.store.Releases(context.Background(), f.envs["production"].ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func wantStatus(t *testing.T, got int, body string, want int, contains string) {
	t.Helper()
	if got != want || !strings.Contains(body, contains) {
		t.Fatalf("got %d %s\nwant %d containing %q", got, body, want, contains)
	}
}

// TestPromotionPolicyMatrix walks the approval rules through the API and
// the browser forms alike.
func TestPromotionPolicyMatrix(t *testing.T) {
	for _, how := range []via{viaAPI, viaUI} {
		t.Run("via "+string(how), func(t *testing.T) {
			srv := newPromoServer(t)
			n := 0
			seedPromotions := func(t *testing.T) *promoFixture {
				n++
				return srv.project(t, "p"+itoa(int64(n)))
			}
			t.Run("a developer's promotion to production waits, and nothing reaches production without its approval", func(t *testing.T) {
				f := seedPromotions(t)
				code, body, id := f.promote(t, how, "dora", "staging")
				if how == viaAPI {
					wantStatus(t, code, body, http.StatusCreated, `"from":"staging","to":"production","artifact_sha256":"`+f.staged.ArtifactSHA256+`","status":"pending"`)
				} else if code != http.StatusSeeOther {
					t.Fatalf("promote form: %d %s", code, body)
				}
				if p := f.promotion(t, id); p.Status != models.PromotionPending || p.ArtifactSHA256 != f.staged.ArtifactSHA256 {
					t.Fatalf("promotion = %s %s", p.Status, p.ArtifactSHA256)
				}
				if rs := f.productionReleases(t); len(rs) != 0 {
					t.Fatalf("production got a release without an approval: %+v", rs)
				}
				code, body = f.decide(t, how, "dora", id, "approve", "")
				wantStatus(t, code, body, http.StatusForbidden, "")
				code, body = f.decide(t, how, "quinn", id, "approve", "")
				wantStatus(t, code, body, http.StatusForbidden, "")
				if rs := f.productionReleases(t); len(rs) != 0 {
					t.Fatal("a refused approval must not deploy")
				}
				code, body = f.decide(t, how, "lena", id, "approve", "checked the commits")
				if (how == viaAPI && code != http.StatusOK) || (how == viaUI && code != http.StatusSeeOther) {
					t.Fatalf("lead approval: %d %s", code, body)
				}
				p := f.promotion(t, id)
				rs := f.productionReleases(t)
				if p.Status != models.PromotionDeploying || len(rs) != 1 || p.ReleaseID == nil || *p.ReleaseID != rs[0].ID {
					t.Fatalf("after approval: promotion %s, releases %d", p.Status, len(rs))
				}
				if rs[0].Reason != models.ReasonPromotion || rs[0].ArtifactSHA256 != f.staged.ArtifactSHA256 || rs[0].JobID == 0 {
					t.Fatalf("the release must deploy the same digest with its job: %+v", rs[0])
				}
				code, body = f.decide(t, how, "leo", id, "approve", "")
				wantStatus(t, code, body, http.StatusConflict, "deploying")
			})

			t.Run("the requester may not approve their own promotion", func(t *testing.T) {
				f := seedPromotions(t)
				_, _, id := f.promote(t, how, "lena", "staging")
				code, body := f.decide(t, how, "lena", id, "approve", "")
				wantStatus(t, code, body, http.StatusForbidden, "you requested this promotion")
			})

			t.Run("the commit author may not approve", func(t *testing.T) {
				f := seedPromotions(t)
				_, _, id := f.promote(t, how, "dora", "staging")
				code, body := f.decide(t, how, "cora", id, "approve", "")
				wantStatus(t, code, body, http.StatusForbidden, "you wrote the commit being promoted")
			})

			t.Run("self-approval passes when the policy allows it", func(t *testing.T) {
				f := seedPromotions(t)
				f.setPolicy(t, "production", func(e *models.Environment) { e.AllowSelfApproval = true })
				_, _, id := f.promote(t, how, "lena", "staging")
				f.decide(t, how, "lena", id, "approve", "")
				if p := f.promotion(t, id); p.Status != models.PromotionDeploying {
					t.Fatalf("promotion = %s", p.Status)
				}
			})

			t.Run("a role outside the policy's approver roles is refused", func(t *testing.T) {
				f := seedPromotions(t)
				f.setPolicy(t, "production", func(e *models.Environment) { e.ApproverRoles = "admin" })
				_, _, id := f.promote(t, how, "dora", "staging")
				code, body := f.decide(t, how, "lena", id, "approve", "")
				wantStatus(t, code, body, http.StatusForbidden, "approvals for production come from admin")
				f.decide(t, how, "root", id, "approve", "")
				if p := f.promotion(t, id); p.Status != models.PromotionDeploying {
					t.Fatalf("admin approval: promotion %s", p.Status)
				}
			})

			t.Run("N approvals need N distinct people", func(t *testing.T) {
				f := seedPromotions(t)
				f.setPolicy(t, "production", func(e *models.Environment) { e.ApprovalsRequired = 2 })
				_, _, id := f.promote(t, how, "dora", "staging")
				f.decide(t, how, "lena", id, "approve", "")
				f.decide(t, how, "lena", id, "approve", "again")
				if p := f.promotion(t, id); p.Status != models.PromotionPending || len(f.productionReleases(t)) != 0 {
					t.Fatalf("one person twice is one approval: %s", p.Status)
				}
				f.decide(t, how, "root", id, "approve", "")
				if p := f.promotion(t, id); p.Status != models.PromotionDeploying {
					t.Fatalf("two approvals: %s", p.Status)
				}
			})

			t.Run("a configuration change of the target asks again", func(t *testing.T) {
				f := seedPromotions(t)
				f.setPolicy(t, "production", func(e *models.Environment) { e.ApprovalsRequired = 2 })
				_, _, id := f.promote(t, how, "dora", "staging")
				f.decide(t, how, "lena", id, "approve", "")
				if err := f.ts.store.SetEnvironmentVariable(context.Background(), &models.EnvironmentVariable{EnvironmentID: f.envs["production"].ID, Name: "DB_URL", Value: "new"}); err != nil {
					t.Fatal(err)
				}
				f.decide(t, how, "root", id, "approve", "")
				if p := f.promotion(t, id); p.Status != models.PromotionPending || len(f.productionReleases(t)) != 0 {
					t.Fatalf("an approval for the old configuration must not count: %s", p.Status)
				}
				_, body := f.ts.do(http.MethodGet, "/api/v1/promotions/"+itoa(id), reqOpts{token: f.tokens["vic"]})
				if !strings.Contains(body, `"approvals":1,"approvals_required":2`) {
					t.Fatalf("after the change one approval counts: %s", body)
				}
				_, page := f.ts.do(http.MethodGet, "/promotions/"+itoa(id), reqOpts{session: f.session["vic"]})
				if !strings.Contains(page, "given for configuration v1 of production; it is v2 now") {
					t.Fatal("the promotion page must say why the earlier approval stopped counting")
				}
				f.decide(t, how, "lena", id, "approve", "seen the new DB_URL")
				if p := f.promotion(t, id); p.Status != models.PromotionDeploying {
					t.Fatalf("re-approval: %s", p.Status)
				}
			})

			t.Run("a rejection ends the promotion and needs a reason", func(t *testing.T) {
				f := seedPromotions(t)
				_, _, id := f.promote(t, how, "dora", "staging")
				code, body := f.decide(t, how, "lena", id, "reject", "")
				if how == viaAPI {
					wantStatus(t, code, body, http.StatusBadRequest, "needs a comment")
				} else {
					// The browser gets the promotion page back with the
					// message at the form, not a bare error page.
					wantStatus(t, code, body, http.StatusUnprocessableEntity, `data-testid="decide-error"`)
					if !strings.Contains(body, "A rejection needs a comment saying why.") || !strings.Contains(body, `data-testid="decide-form"`) {
						t.Fatalf("the promotion page must come back with the error:\n%s", body)
					}
					code, body = f.decide(t, how, "lena", id, "reject", "   ")
					wantStatus(t, code, body, http.StatusUnprocessableEntity, `data-testid="decide-error"`)
				}
				if p := f.promotion(t, id); p.Status != models.PromotionPending {
					t.Fatalf("a refused rejection changed the promotion: %s", p.Status)
				}
				f.decide(t, how, "lena", id, "reject", "breaks the checkout on Safari")
				p := f.promotion(t, id)
				if p.Status != models.PromotionRejected || !strings.Contains(p.StatusReason, "Safari") {
					t.Fatalf("rejected promotion = %s %q", p.Status, p.StatusReason)
				}
				code, body = f.decide(t, how, "root", id, "approve", "")
				wantStatus(t, code, body, http.StatusConflict, "rejected")
				if len(f.productionReleases(t)) != 0 {
					t.Fatal("a rejected promotion must never deploy")
				}
			})

			t.Run("a freeze holds an approved promotion until an admin overrides it with a reason", func(t *testing.T) {
				f := seedPromotions(t)
				f.setPolicy(t, "production", func(e *models.Environment) {
					e.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: time.Now().Add(-time.Hour).UTC(), End: time.Now().Add(time.Hour).UTC(), Reason: "board meeting"}})
				})
				_, _, id := f.promote(t, how, "dora", "staging")
				f.decide(t, how, "lena", id, "approve", "")
				if p := f.promotion(t, id); p.Status != models.PromotionPending || len(f.productionReleases(t)) != 0 {
					t.Fatalf("frozen production took the promotion: %s", p.Status)
				}
				override := func(who, reason string) (int, string) {
					if how == viaAPI {
						b, _ := json.Marshal(map[string]string{"reason": reason})
						resp, body := f.ts.do(http.MethodPost, "/api/v1/promotions/"+itoa(id)+"/override-freeze", reqOpts{token: f.tokens[who], body: string(b), ctype: "application/json"})
						return resp.StatusCode, body
					}
					resp, body := f.ts.do(http.MethodPost, "/promotions/"+itoa(id)+"/override-freeze", reqOpts{session: f.session[who], csrf: true, form: url.Values{"reason": {reason}}})
					return resp.StatusCode, body
				}
				code, body := override("lena", "urgent")
				wantStatus(t, code, body, http.StatusForbidden, "")
				code, body = override("root", " ")
				wantStatus(t, code, body, http.StatusBadRequest, "give a reason")
				code, _ = override("root", "payment outage fix")
				if p := f.promotion(t, id); p.Status != models.PromotionDeploying || code >= 400 {
					t.Fatalf("admin override: %d, promotion %s", code, p.Status)
				}
			})

			t.Run("a newer promotion supersedes the pending one visibly", func(t *testing.T) {
				f := seedPromotions(t)
				_, _, first := f.promote(t, how, "dora", "staging")
				_, _, second := f.promote(t, how, "dora", "staging")
				p := f.promotion(t, first)
				if p.Status != models.PromotionSuperseded || p.SupersededByID == nil || *p.SupersededByID != second {
					t.Fatalf("first = %s by %v", p.Status, p.SupersededByID)
				}
				_, page := f.ts.do(http.MethodGet, "/promotions/"+itoa(first), reqOpts{session: f.session["lena"]})
				if !strings.Contains(page, `href="/promotions/`+itoa(second)+`"`) || !strings.Contains(page, "superseded-note") {
					t.Fatal("the superseded promotion's page must link the newer one")
				}
				code, body := f.decide(t, how, "lena", first, "approve", "")
				wantStatus(t, code, body, http.StatusConflict, "superseded by promotion #"+itoa(second))
			})

			t.Run("an unprotected environment without approvals deploys at once", func(t *testing.T) {
				f := seedPromotions(t)
				_, _, id := f.promote(t, how, "dora", "dev")
				p := f.promotion(t, id)
				if p.Status != models.PromotionDeploying || p.ToEnvironment.Name != "staging" || p.ArtifactSHA256 != f.devRel.ArtifactSHA256 {
					t.Fatalf("dev → staging = %s to %s", p.Status, p.ToEnvironment.Name)
				}
			})

			t.Run("promotions that cannot be are refused with a reason", func(t *testing.T) {
				f := seedPromotions(t)
				code, body, _ := f.promote(t, how, "dora", "production")
				wantStatus(t, code, body, http.StatusConflict, "last environment")
				code, body, _ = f.promote(t, how, "vic", "staging")
				wantStatus(t, code, body, http.StatusForbidden, "")
				code, body, _ = f.promote(t, how, "dora", "nowhere")
				wantStatus(t, code, body, http.StatusNotFound, "no environment nowhere")
				_, _, id := f.promote(t, how, "dora", "dev")
				if id == 0 {
					t.Fatal("dev → staging")
				}
			})
		})
	}
}

func TestNothingLiveCannotBePromoted(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	rs, _ := f.ts.store.Releases(context.Background(), f.envs["production"].ID, 0)
	if len(rs) != 0 {
		t.Fatal("production starts empty")
	}
	f.setPolicy(t, "production", func(e *models.Environment) {})
	// Production has nothing live; add an environment after it to promote to.
	if err := f.ts.store.CreateEnvironment(context.Background(), &models.Environment{ProjectID: f.envs["dev"].ProjectID, Name: "dr"}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.ts.do(http.MethodPost, "/api/v1/projects/shop/environments/production/promote", reqOpts{token: f.tokens["dora"]})
	wantStatus(t, resp.StatusCode, body, http.StatusConflict, "nothing is live in production")
}

func TestApprovalsInboxAndCount(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	_, _, id := f.promote(t, viaAPI, "dora", "staging")
	count := func(who string) string {
		resp, body := f.ts.do(http.MethodGet, "/approvals/count", reqOpts{session: f.session[who]})
		if resp.StatusCode != 200 || !strings.Contains(body, `hx-get="/approvals/count"`) || !strings.Contains(body, `hx-trigger="every 10s"`) {
			t.Fatalf("count fragment: %d %s", resp.StatusCode, body)
		}
		return body[strings.Index(body, ">")+1 : strings.LastIndex(body, "<")]
	}
	for who, want := range map[string]string{"lena": "1", "root": "1", "cora": "0", "dora": "0", "vic": "0"} {
		if got := count(who); got != want {
			t.Errorf("%s sees %s waiting, want %s", who, got, want)
		}
	}
	_, page := f.ts.do(http.MethodGet, "/approvals", reqOpts{session: f.session["lena"]})
	if !strings.Contains(page, `data-testid="inbox"`) || !strings.Contains(page, `data-testid="review-`+itoa(id)+`"`) {
		t.Fatal("the lead's inbox must list the promotion")
	}
	if !strings.Contains(page, `data-testid="approvals-count"`) || !strings.Contains(page, ">1</span>") {
		t.Fatal("the navigation must show the count")
	}
	_, page = f.ts.do(http.MethodGet, "/approvals", reqOpts{session: f.session["dora"]})
	if strings.Contains(page, `data-testid="inbox"`) || !strings.Contains(page, `data-testid="mine"`) {
		t.Fatal("a developer sees their own promotions, not an inbox")
	}
	f.decide(t, viaAPI, "lena", id, "approve", "")
	if got := count("lena"); got != "0" {
		t.Fatalf("after approving, lena sees %s", got)
	}
}

func TestPromotionPageShowsTheEvidence(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	// Production runs an older build with another configuration.
	now := time.Now().UTC()
	live := &models.Release{EnvironmentID: f.envs["production"].ID, BuildID: f.devRel.BuildID, ArtifactSHA256: f.devRel.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonDeploy, FinishedAt: &now, ConfigSummary: `[{"name":"GREETING","value":"hello"},{"name":"TOKEN","secret":true}]`}
	if err := f.ts.store.CreateRelease(ctx, live); err != nil {
		t.Fatal(err)
	}
	_, _, id := f.promote(t, viaAPI, "dora", "staging")
	resp, page := f.ts.do(http.MethodGet, "/promotions/"+itoa(id), reqOpts{session: f.session["lena"]})
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`data-testid="promotion-requester">dora`, "staging → production", `data-testid="config-GREETING"`, "hi", "hello",
		`data-testid="config-TOKEN"`, "removed", "secret, value never shown", "Faster checkout",
		`data-testid="decide-form"`, "0 of 1", "lead or admin",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the promotion page lacks %q", want)
		}
	}
	_, page = f.ts.do(http.MethodGet, "/promotions/"+itoa(id), reqOpts{session: f.session["dora"]})
	if strings.Contains(page, `data-testid="decide-form"`) || !strings.Contains(page, `data-testid="decide-refusal"`) || !strings.Contains(page, `data-testid="cancel"`) {
		t.Fatal("the requester sees why they cannot decide, and may cancel")
	}
	_, page = f.ts.do(http.MethodGet, "/projects/shop/environments/staging", reqOpts{session: f.session["dora"]})
	if !strings.Contains(page, `data-testid="promote"`) || !strings.Contains(page, "Promote to production") || !strings.Contains(page, `data-testid="pending-promotion"`) {
		t.Fatal("the staging page offers Promote to production and links the pending promotion")
	}
	resp, body := f.ts.do(http.MethodPost, "/promotions/"+itoa(id)+"/cancel", reqOpts{session: f.session["dora"], csrf: true, form: url.Values{}})
	if resp.StatusCode != http.StatusSeeOther || f.promotion(t, id).Status != models.PromotionCanceled {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
}

func TestPolicyEditing(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	form := url.Values{"protected": {"1"}, "approvals_required": {"2"}, "approver_roles": {"admin"}, "freeze_windows": {"weekly fri 16:00 to mon 08:00 UTC: weekend"}}
	resp, body := f.ts.do(http.MethodPost, "/projects/shop/environments/production/policy", reqOpts{session: f.session["root"], csrf: true, form: form})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save policy: %d %s", resp.StatusCode, body)
	}
	e, _ := f.ts.store.Environment(context.Background(), f.envs["production"].ID)
	if e.ApprovalsRequired != 2 || e.ApproverRoles != "admin" || !strings.Contains(e.FreezeWindows, "fri 16:00") || e.AllowSelfApproval {
		t.Fatalf("saved policy = %+v", e)
	}
	bad := url.Values{"approvals_required": {"1"}, "freeze_windows": {"sometime soon"}}
	resp, body = f.ts.do(http.MethodPost, "/projects/shop/environments/production/policy", reqOpts{session: f.session["root"], csrf: true, form: bad})
	wantStatus(t, resp.StatusCode, body, http.StatusUnprocessableEntity, "line 1")
	resp, _ = f.ts.do(http.MethodPost, "/projects/shop/environments/production/policy", reqOpts{session: f.session["lena"], csrf: true, form: form})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a lead may not edit policies: %d", resp.StatusCode)
	}
	resp, body = f.ts.do(http.MethodPut, "/api/v1/projects/shop/environments/staging/policy", reqOpts{token: f.tokens["root"], ctype: "application/json",
		body: `{"protected":false,"approvals_required":1,"approver_roles":["developer"]}`})
	wantStatus(t, resp.StatusCode, body, http.StatusBadRequest, `role \"developer\" cannot approve`)
	resp, body = f.ts.do(http.MethodPut, "/api/v1/projects/shop/environments/staging/policy", reqOpts{token: f.tokens["root"], ctype: "application/json",
		body: `{"approvals_required":1,"approver_roles":["lead"],"freeze_windows":["2030-01-01 00:00 to 2030-01-02 00:00 UTC: new year"]}`})
	wantStatus(t, resp.StatusCode, body, http.StatusOK, `"freeze_windows":["2030-01-01 00:00 to 2030-01-02 00:00 UTC: new year"]`)
	resp, body = f.ts.do(http.MethodGet, "/api/v1/projects/shop/environments/staging/policy", reqOpts{token: f.tokens["vic"]})
	wantStatus(t, resp.StatusCode, body, http.StatusOK, `"approver_roles":["lead"]`)
	// A partial body changes only what it names: production stays protected.
	resp, body = f.ts.do(http.MethodPut, "/api/v1/projects/shop/environments/production/policy", reqOpts{token: f.tokens["root"], ctype: "application/json",
		body: `{"require_load_test":true}`})
	wantStatus(t, resp.StatusCode, body, http.StatusOK, `"require_load_test":true`)
	if !strings.Contains(body, `"protected":true`) {
		t.Fatalf("a field left out must keep its value; production lost its protection: %s", body)
	}
}

func TestFreezeAppliesToDirectDeploys(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	f.setPolicy(t, "staging", func(e *models.Environment) {
		e.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: time.Now().Add(-time.Hour).UTC(), End: time.Now().Add(time.Hour).UTC(), Reason: "migration"}})
	})
	deploy := func(who, body string) (int, string) {
		resp, b := f.ts.do(http.MethodPost, "/api/v1/projects/shop/environments/staging/deploys", reqOpts{token: f.tokens[who], body: body, ctype: "application/json"})
		return resp.StatusCode, b
	}
	build := `"build_id":` + itoa(f.build.ID)
	code, body := deploy("dora", "{"+build+"}")
	wantStatus(t, code, body, http.StatusForbidden, "only an admin can deploy during a freeze")
	code, body = deploy("lena", "{"+build+`,"freeze_override_reason":"hotfix"}`)
	wantStatus(t, code, body, http.StatusForbidden, "migration")
	code, body = deploy("root", "{"+build+"}")
	wantStatus(t, code, body, http.StatusBadRequest, "give a reason")
	code, body = deploy("root", "{"+build+`,"freeze_override_reason":"data fix that cannot wait"}`)
	wantStatus(t, code, body, http.StatusCreated, `"status":"pending"`)

	_, page := f.ts.do(http.MethodGet, "/projects/shop/environments/staging", reqOpts{session: f.session["root"]})
	if !strings.Contains(page, `data-testid="freeze-banner"`) || !strings.Contains(page, `name="freeze_override_reason"`) {
		t.Fatal("the frozen environment's page must say so and ask an admin for a reason")
	}
	resp, _ := f.ts.do(http.MethodPost, "/projects/shop/environments/staging/deploys", reqOpts{session: f.session["dora"], csrf: true,
		form: url.Values{"build_id": {itoa(f.build.ID)}}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a developer's deploy form during a freeze: %d", resp.StatusCode)
	}
}

// A deploy refused after the freeze check (here: an unknown build) must not
// leave a freeze.override event behind: the override is recorded only with
// the release it let through.
func TestRefusedDeployDuringFreezeWritesNoOverride(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	f.setPolicy(t, "staging", func(e *models.Environment) {
		e.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: time.Now().Add(-time.Hour).UTC(), End: time.Now().Add(time.Hour).UTC(), Reason: "migration"}})
	})
	overrides := func() int {
		n := 0
		for _, e := range f.ts.events() {
			if e.Action == models.AuditFreezeOverride {
				n++
			}
		}
		return n
	}
	resp, body := f.ts.do(http.MethodPost, "/api/v1/projects/shop/environments/staging/deploys", reqOpts{token: f.tokens["root"], ctype: "application/json",
		body: `{"build_id":999999,"freeze_override_reason":"hotfix"}`})
	wantStatus(t, resp.StatusCode, body, http.StatusNotFound, "no build 999999")
	resp, body = f.ts.do(http.MethodPost, "/projects/shop/environments/staging/deploys", reqOpts{session: f.session["root"], csrf: true,
		form: url.Values{"artifact_sha256": {"zz"}, "freeze_override_reason": {"hotfix"}}})
	wantStatus(t, resp.StatusCode, body, http.StatusBadRequest, "64 hexadecimal")
	if n := overrides(); n != 0 {
		t.Fatalf("refused deploys wrote %d freeze.override events", n)
	}
	resp, body = f.ts.do(http.MethodPost, "/api/v1/projects/shop/environments/staging/deploys", reqOpts{token: f.tokens["root"], ctype: "application/json",
		body: `{"build_id":` + itoa(f.build.ID) + `,"freeze_override_reason":"hotfix"}`})
	wantStatus(t, resp.StatusCode, body, http.StatusCreated, `"status":"pending"`)
	if n := overrides(); n != 1 {
		t.Fatalf("the deploy that went ahead wrote %d freeze.override events, want 1", n)
	}
	for _, e := range f.ts.events() {
		if e.Action == models.AuditFreezeOverride && !strings.Contains(e.Details, `"release":`) {
			t.Fatalf("the override names no release: %s", e.Details)
		}
	}
}

func TestPromotionActionsAreAudited(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	_, _, first := f.promote(t, viaAPI, "dora", "staging")
	f.decide(t, viaAPI, "lena", first, "approve", "looks right")
	_, _, second := f.promote(t, viaUI, "dora", "staging")
	f.decide(t, viaUI, "leo", second, "reject", "not today")
	_, _, third := f.promote(t, viaAPI, "dora", "staging")
	f.ts.do(http.MethodPost, "/api/v1/promotions/"+itoa(third)+"/cancel", reqOpts{token: f.tokens["dora"]})
	f.ts.do(http.MethodPut, "/api/v1/projects/shop/environments/production/policy", reqOpts{token: f.tokens["root"], ctype: "application/json",
		body: `{"protected":true,"approvals_required":1,"freeze_windows":["2020-01-01 00:00 to 2099-01-01 00:00 UTC: forever"]}`})
	_, _, fourth := f.promote(t, viaAPI, "dora", "staging")
	f.decide(t, viaAPI, "lena", fourth, "approve", "")
	f.ts.do(http.MethodPost, "/api/v1/promotions/"+itoa(fourth)+"/override-freeze", reqOpts{token: f.tokens["root"], ctype: "application/json", body: `{"reason":"incident 42"}`})

	var got []string
	for _, e := range f.ts.events() {
		got = append(got, e.ActorName+" "+e.Action+" "+e.ObjectType+" "+e.Details)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"dora promotion.create promotion", "lena approval.approve promotion", `"comment":"looks right"`,
		`system deploy release`, `"promotion":` + itoa(first), "leo approval.reject promotion", `"comment":"not today"`,
		"dora promotion.cancel promotion", "root policy.update environment", `"freeze_windows":"2020-01-01 00:00 to 2099-01-01 00:00 UTC: forever"`,
		"root freeze.override promotion", `"reason":"incident 42"`, `"promotion":` + itoa(fourth),
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the audit trail lacks %q:\n%s", want, all)
		}
	}
	if res, err := f.ts.store.VerifyAudit(context.Background()); err != nil || !res.OK {
		t.Fatalf("the chain must verify: %+v %v", res, err)
	}
}

func TestPromotionPageListsTheCommitsSinceWhatIsLive(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	var shas []string
	for _, msg := range []string{"Live in production", "Add the basket", "Pay with cards"} {
		git("commit", "-q", "--allow-empty", "-m", msg)
		shas = append(shas, git("rev-parse", "HEAD"))
	}
	mirror := f.ts.h.jobs.MirrorDir(f.envs["dev"].ProjectID)
	if out, err := exec.Command("git", "clone", "-q", "--mirror", repo, mirror).CombinedOutput(); err != nil {
		t.Fatalf("mirror: %v\n%s", err, out)
	}
	now := time.Now().UTC()
	release := func(env, commit string, n int64) {
		sum := sha256.Sum256([]byte(commit))
		sha := hex.EncodeToString(sum[:])
		b := &models.Build{ProjectID: f.envs["dev"].ProjectID, Number: 10 + n, Ref: "main", RefType: "branch", CommitSHA: commit,
			Trigger: "manual", Status: models.BuildSucceeded, ArtifactSHA256: &sha}
		if err := testkit.InsertFixture(ctx, f.ts.store, &models.Artifact{SHA256: sha, Size: 1}, b); err != nil {
			t.Fatal(err)
		}
		if err := f.ts.store.CreateRelease(ctx, &models.Release{EnvironmentID: f.envs[env].ID, BuildID: &b.ID, ArtifactSHA256: sha,
			ConfigVersion: 1, Status: models.ReleaseLive, Reason: models.ReasonDeploy, FinishedAt: &now}); err != nil {
			t.Fatal(err)
		}
	}
	release("production", shas[0], 1)
	release("staging", shas[2], 2)
	_, _, id := f.promote(t, viaAPI, "dora", "staging")
	_, page := f.ts.do(http.MethodGet, "/promotions/"+itoa(id), reqOpts{session: f.session["lena"]})
	if !strings.Contains(page, "Add the basket") || !strings.Contains(page, "Pay with cards") || strings.Contains(page, "Live in production") {
		t.Fatalf("the page must list exactly the two commits since what production runs:\n%s", page[strings.Index(page, "Commits since"):][:1500])
	}

	// Once deployed, the target runs the candidate: the page says this
	// promotion put it there, not that it ran "already".
	cand := &models.Build{CommitSHA: shas[2]}
	for _, tc := range []struct{ status, want string }{
		{models.PromotionDeployed, "This promotion put commit " + shas[2][:10] + " live in production."},
		{models.PromotionPending, "production runs the same commit (" + shas[2][:10] + ") already."},
	} {
		p := &models.Promotion{ProjectID: f.envs["dev"].ProjectID, Status: tc.status, Build: cand, ToEnvironment: models.Environment{Name: "production"}}
		if _, note := f.ts.h.promotionCommits(ctx, p, &models.Release{Build: cand}); note != tc.want {
			t.Errorf("a %s promotion whose commit is live: note %q, want %q", tc.status, note, tc.want)
		}
	}
}

func TestBuildPageSaysWhyAutoDeploySkippedIt(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	_, page := f.ts.do(http.MethodGet, "/builds/"+itoa(f.build.ID), reqOpts{session: f.session["vic"]})
	if strings.Contains(page, `data-testid="auto-deploy-skips"`) {
		t.Fatal("a build nothing skipped shows no skip note")
	}
	why := "commit 1e71777347 is older than release #2 (build #4, commit b27dd61a99, live): it is an ancestor of that commit"
	if err := f.ts.store.AppendAudit(context.Background(), models.NewAuditEvent(nil, models.AuditDeploySkipped, "build", itoa(f.build.ID),
		map[string]any{"project": "shop", "environment": "dev", "reason": why})); err != nil {
		t.Fatal(err)
	}
	_, page = f.ts.do(http.MethodGet, "/builds/"+itoa(f.build.ID), reqOpts{session: f.session["vic"]})
	if !strings.Contains(page, `data-testid="auto-deploy-skip-dev"`) || !strings.Contains(page, "Not auto-deployed to dev") || !strings.Contains(page, "is older than release #2") {
		t.Fatalf("the build page must say why dev did not take the build:\n%s", page)
	}
}
