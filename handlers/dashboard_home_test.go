package handlers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// TestDashboardShowsEachRoleItsHome: a lead sees the promotion waiting
// for them and what is live where, QA their own plans and runs, a
// developer their own builds and the failures in projects they build,
// an admin every section and a viewer what is live where. Every list is
// the user's own: another user's build, plan or run does not appear.
func TestDashboardShowsEachRoleItsHome(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	st := f.ts.store
	_, _, promo := f.promote(t, viaAPI, "dora", "staging")
	if promo == 0 {
		t.Fatal("no promotion to production")
	}

	// Builds: dora's own in shop; cora's failure in shop (a project dora
	// builds); a failure in a project dora never built.
	other := &models.Project{Slug: "other", Name: "Other", RepoURL: "file:///other", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 2}
	must(t, testkit.InsertFixture(ctx, st, other))
	shopID := f.envs["staging"].ProjectID
	build := func(p int64, n int64, who, status string) *models.Build {
		b := &models.Build{ProjectID: p, Number: n, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("e", 40),
			CommitMessage: "change", Trigger: "manual", TriggeredByID: &f.users[who].ID, Status: status, CreatedAt: time.Now().UTC()}
		must(t, testkit.InsertFixture(ctx, st, b))
		return b
	}
	dorasBuild := build(shopID, 10, "dora", models.BuildSucceeded)
	corasFailure := build(shopID, 11, "cora", models.BuildFailed)
	elsewhere := build(other.ID, 1, "cora", models.BuildFailed)

	// Load tests: quinn's plan and a run of it; root's plan and inline run.
	staging := f.envs["staging"]
	plan := func(name, who string) *models.LoadTestPlan {
		p := &models.LoadTestPlan{ProjectID: shopID, EnvironmentID: staging.ID, Name: name, Targets: "GET /", Pacer: "constant",
			Rate: 10, Duration: 30 * time.Second, Timeout: time.Second, CreatedByID: &f.users[who].ID}
		must(t, testkit.InsertFixture(ctx, st, p))
		return p
	}
	quinnsPlan, rootsPlan := plan("checkout", "quinn"), plan("soak", "root")
	now := time.Now().UTC()
	quinnsRun := &models.LoadTest{ProjectID: shopID, PlanID: &quinnsPlan.ID, EnvironmentID: staging.ID, Spec: "{}",
		Status: models.LoadTestPassed, Verdict: "pass", FinishedAt: &now}
	rootsRun := &models.LoadTest{ProjectID: shopID, EnvironmentID: staging.ID, Spec: "{}", Status: models.LoadTestFailed,
		Verdict: "fail", FinishedAt: &now, CreatedByID: &f.users["root"].ID}
	must(t, testkit.InsertFixture(ctx, st, quinnsRun, rootsRun))

	sections := []string{"home-approvals", "home-live", "home-loadtests", "home-builds"}
	for who, want := range map[string][]string{
		"lena":  {"home-approvals", "home-live"},
		"quinn": {"home-loadtests"},
		"dora":  {"home-builds"},
		"root":  sections,
		"vic":   {"home-live"},
	} {
		doc := f.page(t, who, "/")
		for _, s := range sections {
			if got, w := has(doc, s), slices.Contains(want, s); got != w {
				t.Errorf("%s's dashboard: section %s shown=%v, want %v", who, s, got, w)
			}
		}
	}

	t.Run("a lead: the waiting promotion, linked, and what is live where", func(t *testing.T) {
		doc := f.page(t, "lena", "/")
		row := doc.Find(`[data-testid="home-promotion-` + itoa(promo) + `"]`)
		if row.Length() != 1 || !strings.Contains(row.Text(), "staging → production") {
			t.Fatalf("the waiting promotion is not listed: %q", testID(doc, "home-approvals"))
		}
		if href, _ := doc.Find(`[data-testid="home-review-` + itoa(promo) + `"]`).Attr("href"); href != "/promotions/"+itoa(promo) {
			t.Errorf("review link = %q", href)
		}
		if got := testID(doc, "home-env-shop-staging"); !strings.Contains(got, "build #2") || !strings.Contains(got, "dddddddddd") {
			t.Errorf("staging's live release: %q, want build #2 and its commit", got)
		}
		if got := testID(doc, "home-env-shop-production"); !strings.Contains(got, "nothing live") {
			t.Errorf("production: %q", got)
		}
		seeAll(t, doc, "home-approvals-all", "/approvals")
		seeAll(t, doc, "home-live-all", "/environments")
		// Once decided, it no longer waits.
		f.decide(t, viaAPI, "lena", promo, "approve", "")
		doc = f.page(t, "lena", "/")
		if has(doc, "home-promotion-"+itoa(promo)) || !strings.Contains(testID(doc, "home-approvals"), "Nothing waits for you") {
			t.Errorf("an approved promotion still waits: %q", testID(doc, "home-approvals"))
		}
	})

	t.Run("QA: their own plans and runs with verdicts", func(t *testing.T) {
		doc := f.page(t, "quinn", "/")
		if !has(doc, "home-plan-"+itoa(quinnsPlan.ID)) || has(doc, "home-plan-"+itoa(rootsPlan.ID)) {
			t.Errorf("plans: %q, want checkout only", testID(doc, "home-loadtests"))
		}
		if got := testID(doc, "home-run-"+itoa(quinnsRun.ID)); !strings.Contains(got, "checkout") || !strings.Contains(strings.ToLower(got), "pass") {
			t.Errorf("quinn's run: %q, want its plan and verdict", got)
		}
		if has(doc, "home-run-"+itoa(rootsRun.ID)) {
			t.Error("another user's run is listed as quinn's")
		}
		seeAll(t, doc, "home-loadtests-all", "/loadtests")
	})

	t.Run("a developer: their builds, and failures in projects they build", func(t *testing.T) {
		doc := f.page(t, "dora", "/")
		if !has(doc, "home-my-build-"+itoa(dorasBuild.ID)) {
			t.Errorf("dora's own build is missing: %q", testID(doc, "home-builds"))
		}
		if has(doc, "home-my-build-"+itoa(corasFailure.ID)) {
			t.Error("cora's build is listed under dora's builds")
		}
		if !has(doc, "home-failure-"+itoa(corasFailure.ID)) {
			t.Errorf("the failure in shop, a project dora builds, is missing: %q", testID(doc, "home-builds"))
		}
		if has(doc, "home-failure-"+itoa(elsewhere.ID)) {
			t.Error("a failure in a project dora never built is listed")
		}
		seeAll(t, doc, "home-builds-all", "/builds")
	})

	t.Run("empty states say what to do next", func(t *testing.T) {
		u := f.ts.user("newdev", "developer")
		_, body := f.ts.do("GET", "/", reqOpts{session: f.ts.session(u)})
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		must(t, err)
		if got := testID(doc, "home-builds"); !strings.Contains(got, "You have started no build yet") || !strings.Contains(got, "No failed build") {
			t.Errorf("a new developer's home: %q", got)
		}
	})
}

func seeAll(t *testing.T, doc *goquery.Document, id, want string) {
	t.Helper()
	if href, _ := doc.Find(`[data-testid="` + id + `"]`).Attr("href"); href != want {
		t.Errorf("%s links %q, want %q", id, href, want)
	}
}
