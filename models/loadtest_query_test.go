package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// seedLive makes rel live in env (the artifact of b) and returns it.
func seedLiveForLoadTest(t *testing.T, s *Store, env Environment, b *Build) *Release {
	t.Helper()
	r := &Release{EnvironmentID: env.ID, BuildID: &b.ID, ArtifactSHA256: *b.ArtifactSHA256, ConfigVersion: 1,
		Status: ReleaseLive, Reason: ReasonDeploy}
	if err := s.CreateRelease(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadTestPlansAndRuns(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p, envs, b := seedProject(t, s, "shop")
		staging := envs[1]
		plan := &LoadTestPlan{ProjectID: p.ID, EnvironmentID: staging.ID, Name: "smoke", Targets: "GET /", Pacer: "constant",
			Rate: 10, Duration: 5 * time.Second, Timeout: time.Second, ThresholdP95: 200 * time.Millisecond}
		if err := s.CreateLoadTestPlan(ctx, plan); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateLoadTestPlan(ctx, &LoadTestPlan{ProjectID: p.ID, EnvironmentID: staging.ID, Name: "smoke", Targets: "GET /", Rate: 1, Duration: time.Second, Timeout: time.Second}); !errors.Is(err, ErrConflict) {
			t.Fatalf("a second plan called smoke: got %v, want ErrConflict", err)
		}
		plan.Rate, plan.Name = 20, "smoke-20"
		if err := s.UpdateLoadTestPlan(ctx, plan); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadTestPlan(ctx, plan.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rate != 20 || got.Name != "smoke-20" || got.ThresholdP95 != 200*time.Millisecond || got.Environment.Name != "staging" || got.Project.Slug != "shop" {
			t.Fatalf("plan after update = %+v", got)
		}
		if err := s.UpdateLoadTestPlan(ctx, &LoadTestPlan{ID: 999}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of a missing plan: got %v, want ErrNotFound", err)
		}

		rel := seedLiveForLoadTest(t, s, staging, b)
		run := func() *LoadTest {
			l := &LoadTest{ProjectID: p.ID, PlanID: &plan.ID, EnvironmentID: staging.ID, Spec: "{}", Duration: 5 * time.Second}
			if err := s.CreateLoadTest(ctx, l, 2); err != nil {
				t.Fatal(err)
			}
			return l
		}
		a, c := run(), run()
		if err := s.CreateLoadTest(ctx, &LoadTest{ProjectID: p.ID, EnvironmentID: staging.ID, Spec: "{}"}, 2); !errors.Is(err, ErrTooManyLoadTests) {
			t.Fatalf("a third active run with a cap of 2: got %v, want ErrTooManyLoadTests", err)
		}

		// c is canceled while queued: it can no longer start.
		wasQueued, err := s.CancelLoadTest(ctx, c.ID, time.Now())
		if err != nil || !wasQueued {
			t.Fatalf("cancel queued = %v, %v", wasQueued, err)
		}
		if ok, err := s.StartLoadTest(ctx, c.ID, rel.ID, rel.ArtifactSHA256, "http://x", time.Now()); ok || err != nil {
			t.Fatalf("start of a canceled run = %v, %v; want false", ok, err)
		}

		if ok, err := s.StartLoadTest(ctx, a.ID, rel.ID, rel.ArtifactSHA256, "http://127.0.0.1:1", time.Now()); !ok || err != nil {
			t.Fatalf("start = %v, %v", ok, err)
		}
		if req, _ := s.LoadTestCancelRequested(ctx, a.ID); req {
			t.Fatal("cancel requested before anyone asked")
		}
		if wasQueued, err := s.CancelLoadTest(ctx, a.ID, time.Now()); err != nil || wasQueued {
			t.Fatalf("cancel running = %v, %v", wasQueued, err)
		}
		if req, _ := s.LoadTestCancelRequested(ctx, a.ID); !req {
			t.Fatal("cancel of a running run was not flagged")
		}
		if err := s.FinishLoadTest(ctx, a.ID, LoadTestResult{Status: LoadTestCanceled, Verdict: "fail", Report: "{}"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishLoadTest(ctx, a.ID, LoadTestResult{Status: LoadTestPassed}, time.Now()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("finishing twice: got %v, want ErrNotFound", err)
		}
		if _, err := s.CancelLoadTest(ctx, a.ID, time.Now()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cancel of a finished run: got %v, want ErrNotFound", err)
		}
		ls, err := s.LoadTests(ctx, LoadTestFilter{PlanID: plan.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 2 || ls[0].ID != c.ID || ls[1].Status != LoadTestCanceled || ls[1].ArtifactSHA256 != rel.ArtifactSHA256 {
			t.Fatalf("runs of the plan = %+v", ls)
		}
	})
}

func TestLoadTestLimits(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		l, err := s.LoadTestLimits(ctx)
		if err != nil || l != DefaultLoadTestLimits() {
			t.Fatalf("limits before any admin set them = %+v, %v", l, err)
		}
		for _, rate := range []float64{50, 75} {
			if err := s.SetLoadTestLimits(ctx, LoadTestLimits{MaxRate: rate, MaxDuration: time.Minute, MaxConcurrent: 1, MaxWorkers: 8}); err != nil {
				t.Fatal(err)
			}
		}
		l, err = s.LoadTestLimits(ctx)
		if err != nil || l.MaxRate != 75 || l.MaxDuration != time.Minute || l.MaxConcurrent != 1 || l.MaxWorkers != 8 {
			t.Fatalf("limits after two saves = %+v, %v", l, err)
		}
	})
}

func TestLoadTestGate(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p, envs, b := seedProject(t, s, "shop")
		dev, staging, prod := envs[0], envs[1], envs[2]
		sha := *b.ArtifactSHA256

		ok, reason, err := s.PromotionLoadTestGate(ctx, prod.ID, sha)
		if err != nil || !ok || reason != "" {
			t.Fatalf("gate without the policy = %v, %q, %v; want open", ok, reason, err)
		}
		prod.RequireLoadTest = true
		dev.RequireLoadTest = true
		for _, e := range []*Environment{&prod, &dev} {
			if err := s.db.Model(&Environment{}).Where("id = ?", e.ID).Update("require_load_test", true).Error; err != nil {
				t.Fatal(err)
			}
		}
		if ok, reason, _ := s.PromotionLoadTestGate(ctx, dev.ID, sha); ok || !strings.Contains(reason, "first environment") {
			t.Fatalf("gate of the first environment = %v, %q", ok, reason)
		}

		ok, reason, err = s.PromotionLoadTestGate(ctx, prod.ID, sha)
		if err != nil || ok || !strings.Contains(reason, "none has run yet") || !strings.Contains(reason, "staging") {
			t.Fatalf("gate before any run = %v, %q, %v", ok, reason, err)
		}

		rel := seedLiveForLoadTest(t, s, staging, b)
		finish := func(env Environment, artifact, status string) *LoadTest {
			l := &LoadTest{ProjectID: p.ID, EnvironmentID: env.ID, Spec: "{}"}
			if err := s.CreateLoadTest(ctx, l, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.StartLoadTest(ctx, l.ID, rel.ID, artifact, "http://x", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.FinishLoadTest(ctx, l.ID, LoadTestResult{Status: status}, time.Now()); err != nil {
				t.Fatal(err)
			}
			return l
		}
		failed := finish(staging, sha, LoadTestFailed)
		ok, reason, _ = s.PromotionLoadTestGate(ctx, prod.ID, sha)
		if ok || !strings.Contains(reason, failed.Ref()+", ended failed") {
			t.Fatalf("gate after a failed run = %v, %q", ok, reason)
		}
		finish(dev, sha, LoadTestPassed)                         // wrong environment
		finish(staging, strings.Repeat("b", 64), LoadTestPassed) // other artifact
		if ok, reason, _ := s.PromotionLoadTestGate(ctx, prod.ID, sha); ok {
			t.Fatalf("a pass in another environment or of another artifact opened the gate (%q)", reason)
		}
		finish(staging, sha, LoadTestPassed)
		if ok, reason, err := s.PromotionLoadTestGate(ctx, prod.ID, sha); !ok || !strings.Contains(reason, "passed in staging") || err != nil {
			t.Fatalf("gate after a pass in staging = %v, %q, %v; want open", ok, reason, err)
		}
		// The promotions' hook asks about the source environment directly.
		if ok, reason, err := s.LoadTestGate(ctx, staging.ID, sha); !ok || err != nil || !strings.Contains(reason, "passed in staging") {
			t.Fatalf("hook for staging = %v, %q, %v", ok, reason, err)
		}
		if ok, reason, err := s.LoadTestGate(ctx, dev.ID, strings.Repeat("b", 64)); ok || err != nil || !strings.Contains(reason, "none has run yet") {
			t.Fatalf("hook for an artifact never tested in dev = %v, %q, %v", ok, reason, err)
		}
		if _, _, err := s.PromotionLoadTestGate(ctx, 999, sha); !errors.Is(err, ErrNotFound) {
			t.Fatalf("gate of a missing environment: got %v, want ErrNotFound", err)
		}
	})
}

func TestReplaceLoadTestLimitsReturnsWhatItReplaced(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		first := LoadTestLimits{MaxRate: 50, MaxDuration: time.Minute, MaxConcurrent: 1, MaxWorkers: 8}
		before, err := s.ReplaceLoadTestLimits(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		d := DefaultLoadTestLimits()
		if before.MaxRate != d.MaxRate || before.MaxDuration != d.MaxDuration || before.MaxConcurrent != d.MaxConcurrent || before.MaxWorkers != d.MaxWorkers {
			t.Fatalf("the first save replaced %+v, want the defaults %+v", before, d)
		}
		err = s.Tx(ctx, func(tx *Store) error {
			before, err = tx.ReplaceLoadTestLimits(ctx, LoadTestLimits{MaxRate: 75, MaxDuration: 2 * time.Minute, MaxConcurrent: 3, MaxWorkers: 16})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if before.MaxRate != 50 || before.MaxDuration != time.Minute || before.MaxConcurrent != 1 || before.MaxWorkers != 8 {
			t.Fatalf("the second save replaced %+v, want the first", before)
		}
		// A rolled-back transaction changes nothing.
		_ = s.Tx(ctx, func(tx *Store) error {
			if _, err := tx.ReplaceLoadTestLimits(ctx, LoadTestLimits{MaxRate: 1, MaxDuration: time.Second, MaxConcurrent: 1, MaxWorkers: 1}); err != nil {
				t.Fatal(err)
			}
			return errors.New("roll back")
		})
		l, err := s.LoadTestLimits(ctx)
		if err != nil || l.MaxRate != 75 || l.MaxConcurrent != 3 {
			t.Fatalf("limits after a rolled-back save = %+v, %v", l, err)
		}
	})
}

func TestInterruptLoadTestEndsOnlyUnfinishedRuns(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p, envs, b := seedProject(t, s, "shop")
		staging := envs[1]
		rel := seedLiveForLoadTest(t, s, staging, b)
		newRun := func() *LoadTest {
			l := &LoadTest{ProjectID: p.ID, EnvironmentID: staging.ID, Spec: "{}", Duration: 5 * time.Second}
			if err := s.CreateLoadTest(ctx, l, 0); err != nil {
				t.Fatal(err)
			}
			return l
		}
		running, queued, passed := newRun(), newRun(), newRun()
		for _, l := range []*LoadTest{running, passed} {
			if ok, err := s.StartLoadTest(ctx, l.ID, rel.ID, rel.ArtifactSHA256, "http://127.0.0.1:1", time.Now()); !ok || err != nil {
				t.Fatalf("start = %v, %v", ok, err)
			}
		}
		if err := s.FinishLoadTest(ctx, passed.ID, LoadTestResult{Status: LoadTestPassed, Verdict: "pass", Report: "{}"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		un, err := s.UnfinishedLoadTests(ctx)
		if err != nil || len(un) != 2 || un[0].ID != running.ID || un[1].ID != queued.ID {
			t.Fatalf("unfinished runs = %+v, %v", un, err)
		}
		// A run the recovery judged while it was queued, then a worker
		// started: it is running now and must be left alone.
		started := newRun()
		if ok, err := s.StartLoadTest(ctx, started.ID, rel.ID, rel.ArtifactSHA256, "http://127.0.0.1:1", time.Now()); !ok || err != nil {
			t.Fatalf("start = %v, %v", ok, err)
		}
		cases := []struct {
			name    string
			run     *LoadTest
			from    string
			windows string
			want    bool
			status  string
		}{
			{"a running run ends interrupted with the windows given", running, LoadTestRunning, `[{"second":0}]`, true, LoadTestInterrupted},
			{"a queued run ends interrupted and keeps its empty windows", queued, LoadTestQueued, "", true, LoadTestInterrupted},
			{"a finished run is left alone", passed, LoadTestRunning, `[{"second":9}]`, false, LoadTestPassed},
			{"a run judged queued that a worker started meanwhile is left alone", started, LoadTestQueued, "", false, LoadTestRunning},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				done, err := s.InterruptLoadTest(ctx, tc.run.ID, tc.from, "the worker died", tc.windows, time.Now())
				if err != nil || done != tc.want {
					t.Fatalf("interrupt = %v, %v; want %v", done, err, tc.want)
				}
				got, err := s.LoadTest(ctx, tc.run.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.status {
					t.Fatalf("status %s, want %s", got.Status, tc.status)
				}
				if tc.want && (got.Error != "the worker died" || got.Verdict != "fail" || got.FinishedAt == nil) {
					t.Errorf("interrupted run = error %q verdict %q finished %v", got.Error, got.Verdict, got.FinishedAt)
				}
				wantWindows := tc.windows
				if !tc.want || wantWindows == "" {
					wantWindows = "[]"
				}
				if got.Windows != wantWindows {
					t.Errorf("windows %q, want %q", got.Windows, wantWindows)
				}
			})
		}
	})
}
