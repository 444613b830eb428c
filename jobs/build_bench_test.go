package jobs

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

// BenchmarkBuildDispatch measures, one build at a time on an idle queue,
// the time from CreateBuild's commit to the start of the first pipeline
// step's process (the step's recorded start, taken just before exec). It
// reports p50 and p99 in milliseconds, and CreateBuild's own latency (it
// fetches the mirror and resolves the ref). Run with -benchtime=Nx.
func BenchmarkBuildDispatch(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, sb := range []runner.SandboxMode{runner.SandboxOff, runner.SandboxAuto} {
			b.Run(db+"/sandbox="+string(sb), func(b *testing.B) {
				if sb == runner.SandboxAuto && !runner.SandboxAvailable() {
					b.Skip("bwrap cannot run here")
				}
				e := newBuildEnv(b, db, 2, func(d *Deps) { d.Sandbox = sb })
				p, _, _ := e.project("bench", "build:\n  - name: first\n    run: \"true\"\n", nil)
				ctx := context.Background()
				var dispatch, create []time.Duration
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					bd, err := e.jobs.CreateBuild(ctx, e.store, CreateBuildRequest{Project: p, Ref: "main", Trigger: TriggerAPI})
					if err != nil {
						b.Fatal(err)
					}
					created := time.Now()
					create = append(create, created.Sub(t0))
					done := buildtest.WaitBuild(b, e.store, bd.ID, time.Minute)
					if done.Status != models.BuildSucceeded {
						b.Fatalf("build %s: %s", done.Status, done.StatusReason)
					}
					st := stepByName(b, done, "first")
					if st.StartedAt == nil {
						b.Fatal("first step has no start time")
					}
					dispatch = append(dispatch, st.StartedAt.Sub(created))
				}
				b.StopTimer()
				b.ReportMetric(ms(percentile(dispatch, 50)), "dispatch-p50-ms")
				b.ReportMetric(ms(percentile(dispatch, 99)), "dispatch-p99-ms")
				b.ReportMetric(ms(percentile(create, 50)), "create-p50-ms")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkBuildDrain queues 100 trivial builds, then starts 2 workers and
// reports how many builds per second they finish.
func BenchmarkBuildDrain(b *testing.B) {
	const n = 100
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			var rates []float64
			for range b.N {
				e := newIdleBuildEnv(b, db, 2)
				p, _, _ := e.project("bench", "build:\n  - name: first\n    run: \"true\"\n", nil)
				ctx := context.Background()
				ids := make([]int64, n)
				for i := range ids {
					bd, err := e.jobs.CreateBuild(ctx, e.store, CreateBuildRequest{Project: p, Ref: "main", Trigger: TriggerAPI})
					if err != nil {
						b.Fatal(err)
					}
					ids[i] = bd.ID
				}
				t0 := time.Now()
				if err := e.jobs.Start(ctx); err != nil {
					b.Fatal(err)
				}
				for _, id := range ids {
					if d := buildtest.WaitBuild(b, e.store, id, 5*time.Minute); d.Status != models.BuildSucceeded {
						b.Fatalf("build %s: %s", d.Status, d.StatusReason)
					}
				}
				rates = append(rates, n/time.Since(t0).Seconds())
			}
			slices.Sort(rates)
			b.ReportMetric(rates[len(rates)/2], "builds/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
