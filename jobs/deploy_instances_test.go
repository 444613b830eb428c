package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// TestDeployRunsTheEnvironmentsInstancesAndScales deploys to an
// environment set to three instances, rolls a second release over them,
// then scales to one without a deploy.
func TestDeployRunsTheEnvironmentsInstancesAndScales(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	dev := h.envs["dev"]
	if err := h.store.SetEnvironmentInstances(ctx, dev.ID, 3); err != nil {
		t.Fatal(err)
	}
	h.reloadEnvs()
	pool := func() []int64 {
		var ids []int64
		for _, s := range h.mgr.Status(dev.EngineKey()).Pool {
			ids = append(ids, s.ReleaseID)
		}
		return ids
	}
	r1 := h.live("dev", h.build("v1", "./bin/app"))
	if got := pool(); len(got) != 3 || got[0] != r1.ID || got[2] != r1.ID {
		t.Fatalf("pool after the first deploy = %v, want 3 instances of release %d", got, r1.ID)
	}
	r2 := h.live("dev", h.build("v2", "./bin/app"))
	if got := pool(); len(got) != 3 || got[0] != r2.ID || got[2] != r2.ID {
		t.Fatalf("pool after the second deploy = %v, want 3 instances of release %d", got, r2.ID)
	}
	if st := h.mgr.Status(dev.EngineKey()); len(st.Warm) != 3 {
		t.Errorf("warm after a rolling deploy = %d instances, want the 3 of release %d", len(st.Warm), r1.ID)
	}

	if err := h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetEnvironmentInstances(ctx, dev.ID, 1); err != nil {
			return err
		}
		return h.jobs.EnqueueScale(ctx, tx, dev.ID)
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(pool()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("pool after scaling to 1 = %v", pool())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.get("dev"); got == "" {
		t.Error("the scaled-down pool does not answer")
	}
}
