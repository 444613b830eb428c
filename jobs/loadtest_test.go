package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// ltFixture is a project whose staging environment serves at addr with a
// live release.
type ltFixture struct {
	store *models.Store
	env   *models.Environment
	sha   string
}

func newLoadTestFixture(t *testing.T, s *models.Store, addr string, deployed bool) *ltFixture {
	t.Helper()
	ctx := context.Background()
	slug := fmt.Sprintf("shop-%d", time.Now().UnixNano())
	p := &models.Project{Slug: slug, Name: slug, RepoURL: "file:///x", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
	if err := testkit.InsertFixture(ctx, s, p); err != nil {
		t.Fatal(err)
	}
	env := &models.Environment{ProjectID: p.ID, Name: "staging", Target: models.TargetProcess, EdgeAddr: addr}
	if err := s.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	sha := fmt.Sprintf("%064x", p.ID)
	if deployed {
		if err := testkit.InsertFixture(ctx, s, &models.Artifact{SHA256: sha, Size: 1}); err != nil {
			t.Fatal(err)
		}
		r := &models.Release{EnvironmentID: env.ID, ArtifactSHA256: sha, ConfigVersion: 1, Status: models.ReleaseLive, Reason: models.ReasonDeploy}
		if err := s.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return &ltFixture{store: s, env: env, sha: sha}
}

// startJobs starts a working River client with a logs service on s.
func startJobs(t *testing.T, s *models.Store, work bool) (*Jobs, *logs.Service) {
	t.Helper()
	ctx := context.Background()
	lg := logs.NewService(s, logs.Options{})
	if err := lg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := New(ctx, Deps{Store: s, Logs: lg}, Options{Work: work, MaintenanceEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := j.Stop(sctx); err != nil {
			t.Error(err)
		}
		lg.Close()
	})
	return j, lg
}

// waitLoadTest waits until the run reaches a status satisfying ok.
func waitLoadTest(t *testing.T, s *models.Store, id int64, ok func(string) bool) *models.LoadTest {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		l, err := s.LoadTest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(l.Status) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("load test %d stuck in %s", id, l.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func spec(rate float64, d time.Duration) loadtest.Spec {
	return loadtest.Spec{Targets: "GET /\nGET /api", Rate: rate, Duration: d, Timeout: 2 * time.Second, MaxWorkers: 16,
		Thresholds: loadtest.Thresholds{P95: time.Second, MinSuccessRatio: 0.99}}
}

func hostOf(u string) string { return strings.TrimPrefix(u, "http://") }

func TestLoadTestRuns(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer up.Close()
	// A port nothing listens on: taken, then released.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	cases := []struct {
		name        string
		addr        string
		wantStatus  string
		wantVerdict string
		check       func(t *testing.T, rep *loadtest.Report)
	}{
		{"a healthy target passes with its metrics", hostOf(up.URL), models.LoadTestPassed, loadtest.VerdictPass, func(t *testing.T, rep *loadtest.Report) {
			if rep.Requests < 10 || rep.Success != 1 || rep.StatusCodes["200"] == 0 || rep.Latencies.P50 <= 0 {
				t.Errorf("report of a healthy run = %+v", rep)
			}
		}},
		{"a target that is down completes with errors counted and fails", down, models.LoadTestFailed, loadtest.VerdictFail, func(t *testing.T, rep *loadtest.Report) {
			if rep.Requests == 0 || rep.Success != 0 || rep.StatusCodes["0"] == 0 || len(rep.Errors) == 0 {
				t.Errorf("report of a run against a closed port = %+v", rep)
			}
		}},
	}
	s := testkit.OpenStore(t, testkit.Migrations(Migrate))
	j, lg := startJobs(t, s, true)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newLoadTestFixture(t, s, tc.addr, true)
			l, err := j.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: f.env, Spec: spec(20, 2*time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			got := waitLoadTest(t, s, l.ID, models.LoadTestFinished)
			if got.Status != tc.wantStatus || got.Verdict != tc.wantVerdict {
				t.Fatalf("status %s verdict %s (error %q), want %s %s", got.Status, got.Verdict, got.Error, tc.wantStatus, tc.wantVerdict)
			}
			if got.ArtifactSHA256 != f.sha || got.ReleaseID == nil || got.BaseURL != "http://"+tc.addr {
				t.Errorf("run does not record what it tested: sha %q release %v base %q", got.ArtifactSHA256, got.ReleaseID, got.BaseURL)
			}
			var rep loadtest.Report
			if err := json.Unmarshal([]byte(got.Report), &rep); err != nil {
				t.Fatal(err)
			}
			tc.check(t, &rep)
			var windows []loadtest.Window
			if err := json.Unmarshal([]byte(got.Windows), &windows); err != nil || len(windows) == 0 {
				t.Fatalf("stored windows = %q, %v", got.Windows, err)
			}
			// Every window went out live, one JSON line each, and the
			// stream ends with the run's status.
			page, err := lg.Read(ctx, got.LogStream(), 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !page.Closed || page.Status != tc.wantStatus || len(page.Lines) != len(windows) {
				t.Fatalf("stream: closed %v status %q lines %d, want %d windows", page.Closed, page.Status, len(page.Lines), len(windows))
			}
			var w0 loadtest.Window
			if err := json.Unmarshal([]byte(page.Lines[0].Text), &w0); err != nil || w0 != windows[0] {
				t.Fatalf("first streamed window %q is not the stored one %+v (%v)", page.Lines[0].Text, windows[0], err)
			}
		})
	}
}

func TestEnqueueLoadTestRefusesBadInput(t *testing.T) {
	s := testkit.OpenStore(t, testkit.Migrations(Migrate))
	j, _ := startJobs(t, s, false)
	ctx := context.Background()
	deployed := newLoadTestFixture(t, s, "127.0.0.1:9", true)
	if err := s.SetLoadTestLimits(ctx, models.LoadTestLimits{MaxRate: 100, MaxDuration: time.Minute, MaxConcurrent: 1, MaxWorkers: 64}); err != nil {
		t.Fatal(err)
	}
	p2 := &models.Project{Slug: "empty", Name: "empty", RepoURL: "file:///y", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
	if err := testkit.InsertFixture(ctx, s, p2); err != nil {
		t.Fatal(err)
	}
	bare := &models.Environment{ProjectID: p2.ID, Name: "dev", Target: models.TargetProcess}
	if err := s.CreateEnvironment(ctx, bare); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*loadtest.Spec)) loadtest.Spec { sp := spec(10, 5*time.Second); f(&sp); return sp }
	cases := []struct {
		name  string
		env   *models.Environment
		spec  loadtest.Spec
		field string
		msg   string
	}{
		{"an environment with nothing deployed", bare, spec(10, 5*time.Second), "environment", "nothing deployed"},
		{"a rate of zero", deployed.env, mod(func(s *loadtest.Spec) { s.Rate = 0 }), "rate", "above 0"},
		{"a negative rate", deployed.env, mod(func(s *loadtest.Spec) { s.Rate = -5 }), "rate", "above 0"},
		{"a rate above the cap", deployed.env, mod(func(s *loadtest.Spec) { s.Rate = 101 }), "rate", "at most 100"},
		{"a duration above the cap", deployed.env, mod(func(s *loadtest.Spec) { s.Duration = 2 * time.Minute }), "duration", "at most 1m0s"},
		{"a bad target line", deployed.env, mod(func(s *loadtest.Spec) { s.Targets = "GET /\nGETT /x" }), "targets", "line 2"},
		{"a target on another host", deployed.env, mod(func(s *loadtest.Spec) { s.Targets = "GET http://example.com/" }), "targets", "line 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := j.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: tc.env, Spec: tc.spec})
			var fe *loadtest.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("got %v, want a %s error containing %q", err, tc.field, tc.msg)
			}
		})
	}
	t.Run("a run beyond the concurrent cap is refused", func(t *testing.T) {
		if _, err := j.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: deployed.env, Spec: spec(10, 5*time.Second)}); err != nil {
			t.Fatal(err)
		}
		_, err := j.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: deployed.env, Spec: spec(10, 5*time.Second)})
		if !errors.Is(err, models.ErrTooManyLoadTests) {
			t.Fatalf("got %v, want ErrTooManyLoadTests", err)
		}
	})
}

// TestLoadTestCancelFromAnotherProcess cancels a running load test from a
// second, insert-only client (as a web process without workers would) on
// PostgreSQL. The target never answers, so the run has no samples: it must
// end canceled with a failing verdict, never a pass.
func TestLoadTestCancelFromAnotherProcess(t *testing.T) {
	s := testkit.OpenStoreOn(t, testkit.Postgres, testkit.Migrations(Migrate))
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	ctx := context.Background()
	f := newLoadTestFixture(t, s, hostOf(hang.URL), true)
	_, _ = startJobs(t, s, true)
	web, _ := startJobs(t, s, false)

	sp := spec(20, 30*time.Second)
	sp.Timeout = 20 * time.Second
	l, err := web.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: f.env, Spec: sp})
	if err != nil {
		t.Fatal(err)
	}
	running := waitLoadTest(t, s, l.ID, func(st string) bool { return st != models.LoadTestQueued })
	if running.Status != models.LoadTestRunning {
		t.Fatalf("run did not start: %s %s", running.Status, running.Error)
	}
	if err := web.CancelLoadTest(ctx, s, running); err != nil {
		t.Fatal(err)
	}
	got := waitLoadTest(t, s, l.ID, models.LoadTestFinished)
	if got.Status != models.LoadTestCanceled || got.Verdict != loadtest.VerdictFail {
		t.Fatalf("canceled run ended %s / %s (%s)", got.Status, got.Verdict, got.Error)
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(got.Report), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Canceled || rep.Requests != 0 || rep.Checks[0].Pass {
		t.Fatalf("report of a canceled run without samples = %+v", rep)
	}
	if err := web.CancelLoadTest(ctx, s, got); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("canceling a finished run: got %v, want ErrNotFound", err)
	}
}
