package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// TestRequiredLoadTestGatesPromotion deploys a real app to dev, asks to
// promote it to staging whose policy requires a load test, and checks the
// promotion waits — with the reason — until a real load test of that
// artifact passes against dev's edge, then deploys.
func TestRequiredLoadTestGatesPromotion(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	staging := h.envs["staging"]
	staging.RequireLoadTest = true
	if err := h.store.UpdateEnvironmentPolicy(ctx, staging); err != nil {
		t.Fatal(err)
	}
	if h.jobs.deps.LoadTestGate == nil {
		t.Fatal("jobs.New must default the load-test gate to the store's")
	}
	h.live("dev", h.build("v2", "./bin/app"))
	p := h.promote("dev", h.user)

	waiting := func() string {
		t.Helper()
		st, err := h.jobs.Delivery().Evaluate(ctx, h.promotion(p.ID), time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		if st.Result.Ready {
			return ""
		}
		return strings.Join(st.Result.Waiting, "; ")
	}
	if w := waiting(); !strings.Contains(w, "none has run yet") || !strings.Contains(w, "dev") {
		t.Fatalf("before any load test, waiting = %q", w)
	}
	if r := h.advance(p); r != nil {
		t.Fatal("a promotion that needs a load test deployed without one")
	}

	run := func(p95 time.Duration) *models.LoadTest {
		t.Helper()
		dev, err := h.store.Environment(ctx, h.envs["dev"].ID)
		if err != nil {
			t.Fatal(err)
		}
		sp := spec(10, 2*time.Second)
		sp.Thresholds.P95 = p95
		l, err := h.jobs.EnqueueLoadTest(ctx, h.store, LoadTestRequest{Env: dev, Spec: sp})
		if err != nil {
			t.Fatal(err)
		}
		return waitLoadTest(t, h.store, l.ID, models.LoadTestFinished)
	}
	// A failing run (a p95 threshold no app meets) keeps the gate closed
	// and says so.
	failed := run(time.Nanosecond)
	if failed.Status != models.LoadTestFailed {
		t.Fatalf("run with an impossible threshold ended %s (%s)", failed.Status, failed.Error)
	}
	if w := waiting(); !strings.Contains(w, failed.Ref()+", ended failed") {
		t.Fatalf("after a failed run, waiting = %q", w)
	}
	passed := run(5 * time.Second)
	if passed.Status != models.LoadTestPassed || passed.ArtifactSHA256 != p.ArtifactSHA256 {
		t.Fatalf("run against dev ended %s (%s) for artifact %s, want passed for %s", passed.Status, passed.Error, passed.ArtifactSHA256, p.ArtifactSHA256)
	}
	if w := waiting(); w != "" {
		t.Fatalf("after a passing run the promotion still waits: %q", w)
	}
	rel := h.advance(p)
	if rel == nil {
		t.Fatal("the promotion did not deploy after the load test passed")
	}
	if got := h.wait(rel.ID); got.Status != models.ReleaseLive || got.ArtifactSHA256 != passed.ArtifactSHA256 {
		t.Fatalf("promoted release %s of %s", got.Status, got.ArtifactSHA256)
	}
}
