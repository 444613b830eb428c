package jobs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

// BenchmarkRealAppRebuild measures the build cache on a real application:
// the wall time (CreateBuild to finished) of a first build with empty
// caches, and of the second build after a one-line change, both in the
// sandbox. It needs an application's source tree and a pipeline for it:
//
//	SLIPWAY_BENCH_APP=<dir> SLIPWAY_BENCH_PIPELINE=<.slipway.yml> \
//	SLIPWAY_BENCH_TOUCH=<file in the app to change> \
//	go test ./jobs -run '^$' -bench RealAppRebuild -benchtime 1x
//
// and reports first-s, second-s and second-pct (second as a percentage of
// the first). docs/builds.md has the figures for a Gin and an
// Express/TypeScript app.
func BenchmarkRealAppRebuild(b *testing.B) {
	src, yml, touch := os.Getenv("SLIPWAY_BENCH_APP"), os.Getenv("SLIPWAY_BENCH_PIPELINE"), os.Getenv("SLIPWAY_BENCH_TOUCH")
	if src == "" || yml == "" || touch == "" {
		b.Skip("set SLIPWAY_BENCH_APP, SLIPWAY_BENCH_PIPELINE and SLIPWAY_BENCH_TOUCH")
	}
	if !runner.SandboxAvailable() {
		b.Skip("bwrap cannot run here")
	}
	pipeline, err := os.ReadFile(yml)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		e := newBuildEnv(b, "sqlite", 1, func(d *Deps) { d.Sandbox = runner.SandboxRequired })
		repo := buildtest.NewRepo(b)
		if out, err := exec.Command("cp", "-a", "--", src+"/.", repo.Dir).CombinedOutput(); err != nil {
			b.Fatalf("copy the app: %v\n%s", err, out)
		}
		repo.Pipeline(string(pipeline), nil, "app")
		p := buildtest.Project(b, e.store, "app", repo.Dir)

		timed := func() time.Duration {
			t0 := time.Now()
			bd, err := e.jobs.CreateBuild(context.Background(), e.store, CreateBuildRequest{Project: p, Ref: "main", Trigger: TriggerAPI})
			if err != nil {
				b.Fatal(err)
			}
			done := buildtest.WaitBuild(b, e.store, bd.ID, 15*time.Minute)
			if done.Status != models.BuildSucceeded {
				b.Fatalf("build %s %q\n%s", done.Status, done.StatusReason, strings.Join(e.log(bd.ID), "\n"))
			}
			for _, st := range done.Steps {
				b.Logf("build %d step %s: %s", done.Number, st.Name, time.Duration(st.DurationMS)*time.Millisecond)
			}
			for _, l := range e.log(bd.ID) {
				if strings.Contains(l, "[slipway] cache:") || strings.Contains(l, "[slipway] build ") {
					b.Logf("build %d: %s", done.Number, l)
				}
			}
			return time.Since(t0)
		}
		first := timed()
		f, err := os.OpenFile(filepath.Join(repo.Dir, touch), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = f.WriteString("\n// changed\n")
		f.Close()
		repo.Commit("a one-line change")
		second := timed()
		b.ReportMetric(first.Seconds(), "first-s")
		b.ReportMetric(second.Seconds(), "second-s")
		b.ReportMetric(100*second.Seconds()/first.Seconds(), "second-pct")
		b.ReportMetric(0, "ns/op")
	}
}
