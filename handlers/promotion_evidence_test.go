package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// page fetches path as who and parses it.
func (f *promoFixture) page(t *testing.T, who, path string) *goquery.Document {
	t.Helper()
	resp, body := f.ts.do(http.MethodGet, path, reqOpts{session: f.session[who]})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as %s: %d %s", path, who, resp.StatusCode, body)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// testID is the trimmed, space-collapsed text of the element with that
// data-testid ("" when there is none).
func testID(doc *goquery.Document, id string) string {
	return strings.Join(strings.Fields(doc.Find(`[data-testid="`+id+`"]`).Text()), " ")
}

func has(doc *goquery.Document, id string) bool {
	return doc.Find(`[data-testid="`+id+`"]`).Length() > 0
}

// TestPromotionConfigDiffIsWhatDeploys: production runs config v1 with no
// variables; its configuration is then edited to v3 with two variables.
// The promotion page must show those two variables and v3 — what the
// promotion will deploy — not the source release's variables (the page
// used to compare staging's release with production's and say so).
func TestPromotionConfigDiffIsWhatDeploys(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	st := f.ts.store
	prod := f.envs["production"]
	now := time.Now().UTC()
	live := &models.Release{EnvironmentID: prod.ID, BuildID: f.devRel.BuildID, ArtifactSHA256: f.devRel.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonDeploy, FinishedAt: &now, ConfigSummary: `[]`}
	must(t, st.CreateRelease(ctx, live))
	must(t, st.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "PAYMENTS_URL", Value: "https://pay.example"}))
	must(t, st.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "REGION", Value: "eu"}))
	env, err := st.Environment(ctx, prod.ID)
	must(t, err)

	_, _, id := f.promote(t, viaAPI, "dora", "staging")
	doc := f.page(t, "lena", "/promotions/"+itoa(id))
	if got := testID(doc, "config-deploys-version"); !strings.Contains(got, "config v"+itoa(env.ConfigVersion)) {
		t.Errorf("the diff's deploy column reads %q, want config v%d", got, env.ConfigVersion)
	}
	for _, name := range []string{"PAYMENTS_URL", "REGION"} {
		row := doc.Find(`[data-testid="config-` + name + `"]`)
		if row.Length() != 1 || row.AttrOr("data-status", "") != "only-right" || !strings.Contains(row.Text(), "added") {
			t.Errorf("variable %s is not shown as added by the promotion: %q", name, row.Text())
		}
	}
	if has(doc, "config-GREETING") {
		t.Error("the diff shows staging's variable GREETING, which production does not deploy")
	}
	if note := testID(doc, "config-note"); !strings.Contains(note, "v"+itoa(env.ConfigVersion)) || !strings.Contains(note, "v1") {
		t.Errorf("the note does not name both versions: %q", note)
	}
}

// TestDeployedPromotionKeepsItsEvidence: once a promotion deploys, a later
// configuration edit and a stricter policy must not turn its "1 of 1"
// into "0 of 2", nor change the configuration it deployed with.
func TestDeployedPromotionKeepsItsEvidence(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	st := f.ts.store
	prod := f.envs["production"]
	must(t, st.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "REGION", Value: "eu"}))
	_, _, id := f.promote(t, viaAPI, "dora", "staging")
	code, body := f.decide(t, viaUI, "lena", id, "approve", "Checked.")
	if code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", code, body)
	}
	p := f.promotion(t, id)
	if p.Status != models.PromotionDeploying || p.Release == nil {
		t.Fatalf("the approved promotion is %s, want deploying", p.Status)
	}
	deployed := p.Release.ConfigVersion

	// Afterwards: production's configuration and policy change.
	must(t, st.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "REGION", Value: "us"}))
	must(t, st.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "EXTRA", Value: "1"}))
	f.setPolicy(t, "production", func(e *models.Environment) { e.ApprovalsRequired = 2 })

	doc := f.page(t, "vic", "/promotions/"+itoa(id))
	if got := testID(doc, "approval-count"); !strings.HasPrefix(got, "1 of 1") {
		t.Errorf("the deployed promotion's approvals read %q, want 1 of 1 as decided", got)
	}
	if !has(doc, "evidence-frozen") {
		t.Error("the page does not say the evidence is kept as decided")
	}
	if strings.Contains(testID(doc, "approvals"), "No longer counts") {
		t.Errorf("the approval that deployed it is shown as stale: %q", testID(doc, "approvals"))
	}
	if got := testID(doc, "config-deploys-version"); !strings.Contains(got, "config v"+itoa(deployed)) {
		t.Errorf("the deployed config column reads %q, want v%d", got, deployed)
	}
	if row := doc.Find(`[data-testid="config-REGION"]`).Text(); !strings.Contains(row, "eu") || strings.Contains(row, "us") {
		t.Errorf("REGION shows %q, want the deployed value eu", row)
	}
	if has(doc, "config-EXTRA") {
		t.Error("a variable added after the deploy shows up in its evidence")
	}
	// The inbox's "recently decided" list agrees.
	if got := promotionAPI(t, f, id); got.Approvals != 1 || got.Required != 1 {
		t.Errorf("the API says %d of %d, want 1 of 1", got.Approvals, got.Required)
	}
}

// promotionAPI reads the promotion through the API as the admin.
func promotionAPI(t *testing.T, f *promoFixture, id int64) promotionJSONView {
	t.Helper()
	resp, body := f.ts.do(http.MethodGet, "/api/v1/promotions/"+itoa(id), reqOpts{token: f.tokens["root"]})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET promotion: %d %s", resp.StatusCode, body)
	}
	var v promotionJSONView
	mustJSON(t, body, &v)
	return v
}

type promotionJSONView struct {
	Approvals int `json:"approvals"`
	Required  int `json:"approvals_required"`
}

// TestPromotionShowsTheArtifactsHistoryAndLoadTest: the candidate was
// rolled back from production five minutes ago and a lead rejected an
// earlier promotion of it; the page says both. With the load-test gate
// closed it offers to run one; once a run passed it links the run with
// its numbers.
func TestPromotionShowsTheArtifactsHistoryAndLoadTest(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	st := f.ts.store
	prod, staging := f.envs["production"], f.envs["staging"]
	lena := f.users["lena"]
	sha := *f.build.ArtifactSHA256
	ago := func(d time.Duration) time.Time { return time.Now().UTC().Add(-d) }
	bad := &models.Release{EnvironmentID: prod.ID, BuildID: &f.build.ID, ArtifactSHA256: sha, ConfigVersion: 1, Status: models.ReleaseRolledBack,
		Rejected: true, Reason: models.ReasonDeploy, CreatedAt: ago(20 * time.Minute)}
	must(t, st.CreateRelease(ctx, bad))
	back := &models.Release{EnvironmentID: prod.ID, BuildID: f.devRel.BuildID, ArtifactSHA256: f.devRel.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonRollback, RollbackOfID: &bad.ID, CreatedByID: &lena.ID, CreatedAt: ago(5 * time.Minute)}
	must(t, st.CreateRelease(ctx, back))

	_, _, first := f.promote(t, viaAPI, "dora", "staging")
	if code, body := f.decide(t, viaAPI, "leo", first, "reject", "p99 doubled on checkout"); code != http.StatusOK {
		t.Fatalf("reject: %d %s", code, body)
	}
	f.setPolicy(t, "production", func(e *models.Environment) { e.RequireLoadTest = true })
	_, _, id := f.promote(t, viaAPI, "dora", "staging")

	doc := f.page(t, "quinn", "/promotions/"+itoa(id))
	hist := doc.Find(`[data-testid="history-item"]`)
	var kinds []string
	hist.Each(func(_ int, s *goquery.Selection) { kinds = append(kinds, s.AttrOr("data-kind", "")) })
	text := testID(doc, "artifact-history")
	for _, want := range []string{"rolled back in production by lena 5 min", "promotion rejected in production by leo", "p99 doubled on checkout", "live in staging"} {
		if !strings.Contains(text, want) {
			t.Errorf("the artifact's history lacks %q: %q", want, text)
		}
	}
	if i, j := indexOf(kinds, "promotion rejected"), indexOf(kinds, "rolled back"); i < 0 || j < 0 || i > j {
		t.Errorf("history is not newest first: %v", kinds)
	}

	// The gate is closed: QA is offered a run in staging.
	if !has(doc, "loadtest-none") {
		t.Errorf("the page does not say no load test ran: %q", testID(doc, "loadtest"))
	}
	href := doc.Find(`[data-testid="new-plan"]`).AttrOr("href", "")
	if href != "/loadtests/plans/new?environment="+itoa(staging.ID) || !strings.Contains(testID(doc, "new-plan"), "Run load test in staging") {
		t.Errorf("the closed gate offers %q (%q), want a load test in staging", href, testID(doc, "new-plan"))
	}
	plan := &models.LoadTestPlan{ProjectID: staging.ProjectID, EnvironmentID: staging.ID, Name: "checkout", Targets: "GET /", Pacer: "constant",
		Rate: 10, Duration: 10 * time.Second, Timeout: time.Second}
	must(t, testkit.InsertFixture(ctx, st, plan))
	doc = f.page(t, "quinn", "/promotions/"+itoa(id))
	if form := doc.Find(`[data-testid="run-plan-` + itoa(plan.ID) + `"]`).Closest("form"); form.AttrOr("action", "") != "/loadtests/plans/"+itoa(plan.ID)+"/run" {
		t.Errorf("the saved plan is not offered to run: %q", form.AttrOr("action", ""))
	}
	if doc := f.page(t, "vic", "/promotions/"+itoa(id)); has(doc, "run-loadtest") {
		t.Error("a viewer, who may not run load tests, is offered one")
	}

	// A passing run: the page links it with its numbers.
	fin := time.Now().UTC()
	run := &models.LoadTest{ProjectID: staging.ProjectID, EnvironmentID: staging.ID, ReleaseID: &f.staged.ID, ArtifactSHA256: sha, Spec: "{}",
		Status: models.LoadTestPassed, Verdict: "pass", FinishedAt: &fin,
		Report: `{"requests":600,"rate":20,"success":0.995,"latencies":{"p95":41,"p99":87},"duration":30000}`}
	must(t, testkit.InsertFixture(ctx, st, run))
	doc = f.page(t, "lena", "/promotions/"+itoa(id))
	if got := doc.Find(`[data-testid="loadtest-link"]`).AttrOr("href", ""); got != "/loadtests/"+itoa(run.ID) {
		t.Errorf("the load-test evidence links %q, want the run", got)
	}
	nums := testID(doc, "loadtest-numbers")
	for _, want := range []string{"41ms", "87ms", "99.5 %", "20.0/s", "600"} {
		if !strings.Contains(nums, want) {
			t.Errorf("the run's numbers lack %q: %q", want, nums)
		}
	}
	if has(doc, "run-loadtest") {
		t.Error("an open gate still offers to run a load test")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
