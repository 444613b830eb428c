package edge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// TestTheEdgeProcessRunsPools drives the client the way the deploy,
// rollback and scale jobs do, with pools: a rolling deploy of three
// instances replaces three, a rollback switches the warm three back at
// once, a killed instance leaves the rotation and comes back, and the pool
// scales down and up without a deploy; under steady load, no request
// fails.
func TestTheEdgeProcessRunsPools(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var stopped1, stopped2 atomic.Bool
	res, err := cl.Rollout(ctx, spec(51, "v1", 3, &stopped1), nil)
	if err != nil || res.Instances != 3 || res.Previous != 0 || res.Rolling {
		t.Fatalf("first rollout: %+v %v", res, err)
	}
	v1 := poolPIDs(t, cl.Status("9"), 51)
	if len(v1) != 3 {
		t.Fatalf("first pool: %v", v1)
	}

	finish := startLoad(url, 200)

	// A rolling deploy of three, reported step by step.
	var pmu sync.Mutex
	var progress []string
	rr := spec(52, "v2", 3, &stopped2)
	rr.Balance = deploy.BalanceRoundRobin
	res, err = cl.Rollout(ctx, rr, func(l string) {
		pmu.Lock()
		progress = append(progress, l)
		pmu.Unlock()
	})
	if err != nil || res.Instances != 3 || res.Previous != 51 || !res.Rolling {
		t.Fatalf("rolling deploy: %+v %v, want 3 instances replacing release 51", res, err)
	}
	pmu.Lock()
	steps := strings.Join(progress, "\n")
	pmu.Unlock()
	if !strings.Contains(steps, "rolling deploy") || strings.Count(steps, "joined the pool") != 3 || strings.Count(steps, "leaves the pool and drains") != 3 {
		t.Errorf("the rollout's steps do not show a rolling deploy of 3:\n%s", steps)
	}
	if got := get(t, url); got != "v2" {
		t.Fatalf("after the rolling deploy: %q", got)
	}
	v2 := poolPIDs(t, cl.Status("9"), 52)
	if b := cl.Status("9").Balance; b != deploy.BalanceRoundRobin {
		t.Errorf("release 52 asked for round-robin; the edge balances %q", b)
	}

	// Rollback: the warm pool of release 51, the same processes, at once.
	if n, err := cl.SwitchWarm("9", 51); err != nil || n != 3 {
		t.Fatalf("switch back to the warm release 51: %d %v", n, err)
	}
	if got := poolPIDs(t, cl.Status("9"), 51); !slices.Equal(got, v1) {
		t.Errorf("after the rollback the pool runs %v, want the warm %v", got, v1)
	}
	if b := cl.Status("9").Balance; b != deploy.BalanceLeastOutstanding {
		t.Errorf("after the rollback to release 51 the edge balances %q, want its default least-outstanding", b)
	}

	// kill -9 of one instance: out of rotation, then back with a new pid.
	victim := v1[1]
	if err := syscall.Kill(-victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		st := cl.Status("9")
		for _, in := range st.Pool {
			if in.Slot == 2 && in.PID != 0 && in.PID != victim && in.Restarts == 1 && in.State == deploy.StateHealthy {
				return true
			}
		}
		return false
	}, "the killed instance restarted with a new pid")

	// Scale down to one and up to three without a deploy: slot 1 keeps
	// its process.
	if err := cl.Scale(ctx, "9", 1); err != nil {
		t.Fatalf("scale to 1: %v", err)
	}
	if st := cl.Status("9"); len(st.Pool) != 1 || st.Pool[0].PID != v1[0] || st.Desired != 1 {
		t.Errorf("after scaling to 1: %+v, want slot 1 (pid %d) alone", st.Pool, v1[0])
	}
	if err := cl.Scale(ctx, "9", 3); err != nil {
		t.Fatalf("scale to 3: %v", err)
	}
	st := cl.Status("9")
	if got := poolPIDs(t, st, 51); len(got) != 3 || got[0] != v1[0] || st.Desired != 3 {
		t.Errorf("after scaling to 3: %v (desired %d), want 3 with slot 1 still pid %d", got, st.Desired, v1[0])
	}
	r := finish()
	if r.failed != 0 || r.sent < 200 {
		t.Errorf("%d of %d requests failed across the rolling deploy, rollback, kill and scaling (first: %s)", r.failed, r.sent, r.first)
	}
	t.Logf("%d requests at 200/s, %d failed", r.sent, r.failed)

	// Bad sizes are refused before anything changes.
	for _, n := range []int{0, 17} {
		if err := cl.Scale(ctx, "9", n); !errors.Is(err, deploy.ErrInvalid) {
			t.Errorf("scale to %d: %v, want ErrInvalid", n, err)
		}
	}
	if _, err := cl.Rollout(ctx, spec(53, "v3", 17, &atomic.Bool{}), nil); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("rollout of 17: %v, want ErrInvalid", err)
	}
	if ds, err := cl.Desired(ctx, "9"); err != nil || ds.Live != 51 || ds.Releases[0].Instances != 3 {
		t.Errorf("the refused changes changed the desired state: %+v %v", ds, err)
	}

	// The live release again (what a restarted portal does): it keeps
	// serving on the same processes.
	var again atomic.Bool
	if res, err := cl.Rollout(ctx, spec(51, "v1", 3, &again), nil); err != nil || res.Instances != 3 || res.Previous != 0 {
		t.Fatalf("rollout of the live release: %+v %v", res, err)
	}
	if got := poolPIDs(t, cl.Status("9"), 51); got[0] != v1[0] {
		t.Errorf("a rollout of the live release restarted it: %v", got)
	}

	// Stopped is called once a release no longer runs.
	if stopped1.Load() || stopped2.Load() {
		t.Errorf("a running release's Stopped was called")
	}
	if err := cl.StopEnv("9"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return stopped1.Load() && stopped2.Load() }, "Stopped of both releases")
	for _, pid := range append(v1, v2...) {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			t.Errorf("pid %d still runs after StopEnv", pid)
		}
	}
}
