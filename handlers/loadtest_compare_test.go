package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// TestCompareNeverCallsTheHeavierRunBetter: run B sent five times the
// rate of run A, so its throughput is higher; the comparison must say the
// load differed and call neither run better. Two runs at the same load
// still get better and worse.
func TestCompareNeverCallsTheHeavierRunBetter(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	staging := f.envs["staging"]
	plan := &models.LoadTestPlan{ProjectID: staging.ProjectID, EnvironmentID: staging.ID, Name: "checkout", Targets: "GET /", Pacer: "constant",
		Rate: 10, Duration: 30 * time.Second, Timeout: time.Second}
	must(t, testkit.InsertFixture(ctx, f.ts.store, plan))
	run := func(rate, throughput float64, p95 time.Duration) int64 {
		spec, err := json.Marshal(loadtest.Spec{Targets: "GET /", Pacer: "constant", Rate: rate, Duration: 30 * time.Second, Timeout: time.Second})
		must(t, err)
		rep, err := json.Marshal(loadtest.Report{Requests: uint64(rate * 30), Rate: rate, Throughput: throughput, Success: 1,
			Latencies: loadtest.Latencies{P95: p95}, Checks: []loadtest.Check{}, Verdict: "pass"})
		must(t, err)
		now := time.Now().UTC()
		l := &models.LoadTest{ProjectID: staging.ProjectID, PlanID: &plan.ID, EnvironmentID: staging.ID, Spec: string(spec), Report: string(rep),
			Status: models.LoadTestPassed, Verdict: "pass", FinishedAt: &now}
		must(t, testkit.InsertFixture(ctx, f.ts.store, l))
		return l.ID
	}
	light, heavy := run(10, 10, 40*time.Millisecond), run(50, 50, 90*time.Millisecond)
	doc := f.page(t, "quinn", "/loadtests/"+itoa(light)+"/compare?with="+itoa(heavy))
	if got := testID(doc, "load-differs"); !strings.Contains(got, "rate 10/s in A, 50/s in B") || !strings.Contains(got, "neither run is better") {
		t.Errorf("the comparison does not say the load differed: %q", got)
	}
	if deltas := testID(doc, "deltas"); strings.Contains(deltas, "better") || strings.Contains(deltas, "worse") {
		t.Errorf("runs under different load are ranked: %q", deltas)
	}

	same := run(10, 9, 60*time.Millisecond)
	doc = f.page(t, "quinn", "/loadtests/"+itoa(light)+"/compare?with="+itoa(same))
	if has(doc, "load-differs") {
		t.Error("runs at the same load are said to differ")
	}
	if deltas := testID(doc, "deltas"); !strings.Contains(deltas, "worse") {
		t.Errorf("the same load: a slower run is not called worse: %q", deltas)
	}
}

// TestCompareCallsNoiseTheSame: a 0.1 % throughput dip or a 0.05 point
// success change is noise, not "worse"; 5 % slower p95 is worse.
func TestCompareCallsNoiseTheSame(t *testing.T) {
	for _, c := range []struct {
		d    loadtest.Delta
		want string
	}{
		{loadtest.Delta{Metric: "throughput", A: 20.18, B: 20.16, Abs: -0.02, Rel: -0.001, HasRel: true}, "same"},
		{loadtest.Delta{Metric: "success", A: 1, B: 0.9995, Abs: -0.0005, Rel: -0.0005, HasRel: true}, "same"},
		{loadtest.Delta{Metric: "success", A: 1, B: 0.99, Abs: -0.01, Rel: -0.01, HasRel: true}, "worse"},
		{loadtest.Delta{Metric: "latency_p95", A: 100, B: 105, Abs: 5, Rel: 0.05, HasRel: true, LowerIsBetter: true}, "worse"},
		{loadtest.Delta{Metric: "latency_p95", A: 100, B: 95, Abs: -5, Rel: -0.05, HasRel: true, LowerIsBetter: true}, "better"},
	} {
		r := deltaRow(c.d)
		got := "same"
		if r.Better {
			got = "better"
		} else if r.Worse {
			got = "worse"
		}
		if got != c.want {
			t.Errorf("%s %v → %v: got %s, want %s", c.d.Metric, c.d.A, c.d.B, got, c.want)
		}
	}
}
