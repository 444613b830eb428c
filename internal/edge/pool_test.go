package edge_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// TestTheClientRollsOutOneInstanceAndRefusesAPool drives the client the
// way the deploy, rollback and scale jobs do: Rollout of one instance, a
// second Rollout keeping the first warm, SwitchWarm back, Scale to 1; a
// pool of more than one is refused with an error that says what to do,
// and changes nothing the edge runs.
func TestTheClientRollsOutOneInstanceAndRefusesAPool(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	addr, err := cl.EnsureEdge("9", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr
	spec := func(rel int64, version string, n int, stopped *atomic.Bool) deploy.RolloutSpec {
		return deploy.RolloutSpec{InstanceSpec: deploy.InstanceSpec{Env: "9", ReleaseID: rel, Dir: releaseDir(t, data),
			Command: "exec " + appBin, Vars: map[string]string{"VERSION": version}, HealthPath: "/healthz"},
			Instances: n, Stopped: func() { stopped.Store(true) }}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var stopped1, stopped2, stoppedPool atomic.Bool
	var progress []string
	res, err := cl.Rollout(ctx, spec(51, "v1", 0, &stopped1), func(l string) { progress = append(progress, l) })
	if err != nil || res.Instances != 1 || res.Previous != 0 {
		t.Fatalf("first rollout: %+v %v", res, err)
	}
	if got := get(t, url); got != "v1" {
		t.Fatalf("after the first rollout: %q", got)
	}
	if !strings.Contains(strings.Join(progress, "\n"), "edge switched") {
		t.Errorf("progress does not say the edge switched: %q", progress)
	}
	st := cl.Status("9")
	if len(st.Pool) != 1 || st.Live == nil || st.Pool[0].PID != st.Live.PID {
		t.Errorf("status pool: %+v, want the live instance", st)
	}
	v1PID := st.Live.PID

	// The live release again (a redeploy): it keeps serving on the same
	// process, nothing restarts.
	var stoppedAgain atomic.Bool
	if res, err := cl.Rollout(ctx, spec(51, "v1", 1, &stoppedAgain), nil); err != nil || res.Instances != 1 || res.Previous != 0 {
		t.Fatalf("rollout of the live release: %+v %v", res, err)
	}
	if st := cl.Status("9"); st.Live == nil || st.Live.PID != v1PID {
		t.Errorf("after a rollout of the live release: %+v, want the same process (pid %d)", st, v1PID)
	}

	// A pool of three: refused before anything starts.
	_, err = cl.Rollout(ctx, spec(52, "v2", 3, &stoppedPool), nil)
	if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "one instance per environment") || !strings.Contains(err.Error(), "--edge=inprocess") {
		t.Fatalf("rollout of 3 instances: %v, want ErrInvalid saying to use --edge=inprocess", err)
	}
	if ds, err := cl.Desired(ctx, "9"); err != nil || len(ds.Releases) != 1 || ds.Live != 51 {
		t.Errorf("the refused rollout changed the desired state: %+v %v", ds, err)
	}
	if err := cl.Scale(ctx, "9", 2); !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "--edge=inprocess") {
		t.Errorf("scale to 2: %v, want ErrInvalid saying to use --edge=inprocess", err)
	}
	if err := cl.Scale(ctx, "9", 0); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("scale to 0: %v, want ErrInvalid", err)
	}
	if err := cl.Scale(ctx, "9", 1); err != nil {
		t.Errorf("scale to 1: %v", err)
	}
	if got := get(t, url); got != "v1" {
		t.Errorf("after the refused pool: %q", got)
	}

	// The next release goes live; the first stays warm, then comes back.
	res, err = cl.Rollout(ctx, spec(52, "v2", 1, &stopped2), nil)
	if err != nil || res.Instances != 1 || res.Previous != 51 {
		t.Fatalf("second rollout: %+v %v, want 1 instance replacing release 51", res, err)
	}
	if got := get(t, url); got != "v2" {
		t.Fatalf("after the second rollout: %q", got)
	}
	if n, err := cl.SwitchWarm("9", 51); err != nil || n != 1 {
		t.Fatalf("switch back to the warm release 51: %d %v", n, err)
	}
	if got := get(t, url); got != "v1" {
		t.Errorf("after the switch back: %q", got)
	}
	if st := cl.Status("9"); st.Live == nil || st.Live.PID != v1PID {
		t.Errorf("after the switch back: %+v, want the same process (pid %d) live", st, v1PID)
	}
	if _, err := cl.SwitchWarm("9", 77); !errors.Is(err, deploy.ErrNotWarm) {
		t.Errorf("switch to a release that never ran: %v, want ErrNotWarm", err)
	}

	// Stopped is called once the release no longer runs.
	if stopped1.Load() || stopped2.Load() {
		t.Errorf("a running release's Stopped was called")
	}
	if err := cl.StopEnv("9"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return stopped1.Load() && stopped2.Load() }, "Stopped of both releases")
}
