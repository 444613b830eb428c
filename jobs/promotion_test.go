package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// promote asks for the release live in from to go to the next environment.
func (h *deployHarness) promote(from string, by *models.User) *models.Promotion {
	h.t.Helper()
	ctx := context.Background()
	src, err := h.store.LiveRelease(ctx, h.envs[from].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	next, err := h.store.NextEnvironment(ctx, h.envs[from])
	if err != nil {
		h.t.Fatal(err)
	}
	p := &models.Promotion{ProjectID: h.project.ID, FromEnvironmentID: h.envs[from].ID, ToEnvironmentID: next.ID, SourceReleaseID: &src.ID,
		BuildID: src.BuildID, ArtifactSHA256: src.ArtifactSHA256, ConfigVersion: next.ConfigVersion, RequestedByID: &by.ID}
	if _, err := h.store.CreatePromotion(ctx, p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *deployHarness) approve(p *models.Promotion, by *models.User) {
	h.t.Helper()
	ctx := context.Background()
	env, err := h.store.Environment(ctx, p.ToEnvironmentID)
	if err != nil {
		h.t.Fatal(err)
	}
	if ok, err := h.store.AddApproval(ctx, &models.Approval{PromotionID: p.ID, UserID: by.ID, Decision: models.DecisionApprove,
		ArtifactSHA256: p.ArtifactSHA256, ConfigVersion: env.ConfigVersion}, ""); !ok || err != nil {
		h.t.Fatalf("approve = %v, %v", ok, err)
	}
}

func (h *deployHarness) advance(p *models.Promotion) *models.Release {
	h.t.Helper()
	r, err := h.jobs.Delivery().Advance(context.Background(), h.store, p.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *deployHarness) promotion(id int64) *models.Promotion {
	h.t.Helper()
	p, err := h.store.Promotion(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestPromotionDeploysTheSameArtifactOnceApproved(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	lead := &models.User{Username: "lena", PasswordHash: "x", Role: "lead"}
	if err := h.store.CreateUser(ctx, lead); err != nil {
		t.Fatal(err)
	}
	prodEnv := h.envs["production"]
	if err := h.store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prodEnv.ID, Name: "GREETING", Value: "prod"}); err != nil {
		t.Fatal(err)
	}
	staged := h.live("staging", h.build("v7", "./bin/app"))

	p := h.promote("staging", h.user)
	if r := h.advance(p); r != nil {
		t.Fatalf("a promotion to production deployed without an approval: release %d", r.ID)
	}
	if got := h.promotion(p.ID); got.Status != models.PromotionPending {
		t.Fatalf("unapproved promotion is %s", got.Status)
	}

	// An approval given for an older configuration version asks again.
	if ok, err := h.store.AddApproval(ctx, &models.Approval{PromotionID: p.ID, UserID: lead.ID, Decision: models.DecisionApprove,
		ArtifactSHA256: p.ArtifactSHA256, ConfigVersion: 1}, ""); !ok || err != nil {
		t.Fatalf("approve = %v %v", ok, err)
	}
	if r := h.advance(p); r != nil {
		t.Fatal("an approval for an older configuration version must not deploy")
	}

	h.approve(p, lead)
	rel := h.advance(p)
	if rel == nil {
		t.Fatal("an approved promotion must deploy")
	}
	if rel.Reason != models.ReasonPromotion || rel.ArtifactSHA256 != staged.ArtifactSHA256 {
		t.Fatalf("release = %s of %s, want a promotion of %s", rel.Reason, rel.ArtifactSHA256, staged.ArtifactSHA256)
	}
	if again := h.advance(p); again != nil {
		t.Fatal("a promotion deploys once")
	}
	if got := h.wait(rel.ID); got.Status != models.ReleaseLive {
		t.Fatalf("release %s: %s %s", got.Status, got.Error, got.Output)
	}
	if got := h.get("production"); got != "v7-prod-" {
		t.Fatalf("production must run the same artifact with its own configuration: %q", got)
	}
	if got := h.promotion(p.ID); got.Status != models.PromotionDeployed || got.Release == nil || got.Release.ID != rel.ID {
		t.Fatalf("promotion = %s (release %v)", got.Status, got.ReleaseID)
	}
	arts, err := h.artifacts.Path(rel.ArtifactSHA256)
	if err != nil || arts == "" {
		t.Fatalf("the artifact is stored once, by digest: %v", err)
	}
}

func TestPromotionWaitsForTheLoadTestGateAndTheFreeze(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	staging := h.envs["staging"]
	// staging: unprotected, but requires a load test and is frozen now.
	staging.RequireLoadTest = true
	staging.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: time.Now().Add(-time.Hour).UTC(), End: time.Now().Add(time.Hour).UTC(), Reason: "audit"}})
	if err := h.store.UpdateEnvironmentPolicy(ctx, staging); err != nil {
		t.Fatal(err)
	}
	passed := false
	h.jobs.deps.LoadTestGate = func(_ context.Context, envID int64, sha string) (bool, string, error) {
		if envID != h.envs["dev"].ID {
			t.Errorf("the gate must be asked about the source environment, got %d", envID)
		}
		if passed {
			return true, "run #3 passed", nil
		}
		return false, "no passing load test of " + sha[:12] + " in dev", nil
	}
	h.live("dev", h.build("v2", "./bin/app"))
	p := h.promote("dev", h.user)

	st, err := h.jobs.Delivery().Evaluate(ctx, h.promotion(p.ID), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	waiting := strings.Join(st.Result.Waiting, "; ")
	if st.Result.Ready || !strings.Contains(waiting, "no passing load test") || !strings.Contains(waiting, "audit") {
		t.Fatalf("waiting = %q, want the load test and the freeze", waiting)
	}
	passed = true
	if r := h.advance(p); r != nil {
		t.Fatal("a frozen environment must not take a promotion")
	}
	admin := &models.User{Username: "root", PasswordHash: "x", Role: "admin"}
	if err := h.store.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := h.store.SetPromotionFreezeOverride(ctx, p.ID, admin.ID, "customer outage fix"); err != nil {
		t.Fatal(err)
	}
	rel := h.advance(p)
	if rel == nil {
		t.Fatal("an admin's freeze override with a passing load test must deploy")
	}
	if got := h.wait(rel.ID); got.Status != models.ReleaseLive {
		t.Fatalf("release %s: %s", got.Status, got.Error)
	}
	n, err := h.jobs.Delivery().Sweep(ctx)
	if err != nil || n != 0 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if got := h.promotion(p.ID); got.Status != models.PromotionDeployed {
		t.Fatalf("promotion = %s", got.Status)
	}
}

func TestCompareConfigShowsSecretsOnlyAsSameOrDiffers(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	set := func(env, name, value string, secret bool) {
		v := &models.EnvironmentVariable{EnvironmentID: h.envs[env].ID, Name: name, Value: value, Secret: secret}
		if secret {
			v.Value, v.ValueSealed = "", h.box.Seal([]byte(value), models.SecretAD(h.envs[env].ID, name))
		}
		if err := h.store.SetEnvironmentVariable(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	set("staging", "GREETING", "hi", false)
	set("production", "GREETING", "hello", false)
	set("staging", "LEVEL", "debug", false)
	set("staging", "TOKEN", "same-secret", true)
	set("production", "TOKEN", "same-secret", true)
	set("staging", "DB_PASSWORD", "one", true)
	set("production", "DB_PASSWORD", "two", true)
	set("production", "CDN", "on", false)
	snapshot := func(env string) *models.Release {
		vars, err := h.store.EnvironmentVariables(ctx, h.envs[env].ID)
		if err != nil {
			t.Fatal(err)
		}
		r := &models.Release{ID: h.envs[env].ID * 100, EnvironmentID: h.envs[env].ID}
		if r.ConfigSummary, r.ConfigSealed, err = h.jobs.snapshotConfig(h.envs[env].ID, vars); err != nil {
			t.Fatal(err)
		}
		return r
	}
	st, pr := snapshot("staging"), snapshot("production")
	rows, err := h.jobs.CompareConfig(st, pr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Name+"="+r.Left+"|"+r.Right+":"+r.Status)
	}
	want := "CDN=|on:only-right DB_PASSWORD=|:differs GREETING=hi|hello:differs LEVEL=debug|:only-left TOKEN=|:same"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows = %s\nwant   %s", strings.Join(got, " "), want)
	}
	h.jobs.deps.Secrets = nil
	rows, _ = h.jobs.CompareConfig(st, pr)
	for _, r := range rows {
		if r.Name == "TOKEN" && r.Status != ConfigUnknown {
			t.Fatalf("without the key a secret compares as unknown, got %s", r.Status)
		}
	}
}
