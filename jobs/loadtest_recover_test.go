package jobs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// countingTarget is an HTTP target that counts the requests it answers.
func countingTarget(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// streamLines reads every line of a stream and whether it is closed, with
// its status.
func streamLines(t *testing.T, ls *logs.Service, stream string) ([]string, bool, string) {
	t.Helper()
	page, err := ls.Read(context.Background(), stream, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range page.Lines {
		out = append(out, l.Text)
	}
	return out, page.Closed, page.Status
}

func TestKill9MidLoadTestEndsInterruptedWithItsWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run("on "+db, func(t *testing.T) {
			ctx := context.Background()
			data := t.TempDir()
			args := []string{"--data", data}
			cfg := models.Config{DataDir: data}
			if db == "postgres" {
				cfg = models.Config{URL: testpg.NewDatabase(t)}
				args = append(args, "--database-url", cfg.URL)
			}
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SLIPWAY_ADMIN_PASSWORD=crash-test-password",
				"SLIPWAY_BCRYPT_COST=4", "SLIPWAY_SANDBOX=off", "SLIPWAY_WORKSPACE_DIR=" + t.TempDir(), "SLIPWAY_LOG_LEVEL=warn"}
			first := startPortal(t, args, env)
			store, err := models.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()

			// The target lives in this test process: it outlives the portal.
			target, hits := countingTarget(t)
			f := newLoadTestFixture(t, store, hostOf(target.URL), true)
			envRow, err := store.Environment(ctx, f.env.ID)
			if err != nil {
				t.Fatal(err)
			}
			admin, err := store.UserByName(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			tok, prefix := auth.NewToken()
			if err := store.CreateAPIToken(ctx, &models.APIToken{UserID: admin.ID, Name: "t", Hash: auth.HashSecret(tok), Prefix: prefix}); err != nil {
				t.Fatal(err)
			}
			api := func(method, path, body string) (int, []byte) {
				req, _ := http.NewRequest(method, first.url+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			code, body := api("POST", "/api/v1/projects/"+envRow.Project.Slug+"/loadtests",
				`{"environment":"staging","targets":"GET /","rate":20,"duration":"2m","timeout":"2s","thresholds":{"min_success_ratio":0.99}}`)
			if code != http.StatusCreated {
				t.Fatalf("create load test: %d %s", code, body)
			}
			var created struct{ ID int64 }
			if err := json.Unmarshal(body, &created); err != nil {
				t.Fatal(err)
			}

			ls := logs.NewService(store, logs.Options{})
			defer ls.Close()
			stream := models.LoadTestLogStream(created.ID)
			deadline := time.Now().Add(60 * time.Second)
			for {
				lines, _, _ := streamLines(t, ls, stream)
				if len(lines) >= 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the run published %d windows in a minute\n%s", len(lines), first.output())
				}
				time.Sleep(50 * time.Millisecond)
			}

			first.kill9()
			if l, _ := store.LoadTest(ctx, created.ID); l.Status != models.LoadTestRunning {
				t.Fatalf("after kill -9 the run is %s, want still running in the database", l.Status)
			}
			before, _, _ := streamLines(t, ls, stream)
			hitsAtCrash := hits.Load()

			second := startPortal(t, args, env)
			got := waitLoadTest(t, store, created.ID, models.LoadTestFinished)
			if got.Status != models.LoadTestInterrupted || got.Error != ReasonLoadTestWorkerDied || got.Verdict != loadtest.VerdictFail {
				t.Fatalf("after restart: %s %s %q, want interrupted fail %q\n%s", got.Status, got.Verdict, got.Error, ReasonLoadTestWorkerDied, second.output())
			}
			var windows []loadtest.Window
			if err := json.Unmarshal([]byte(got.Windows), &windows); err != nil || len(windows) < len(before) {
				t.Fatalf("the run keeps %d windows (%v), want the %d published before the crash", len(windows), err, len(before))
			}
			if windows[0].Requests == 0 {
				t.Errorf("the first kept window counts no requests: %+v", windows[0])
			}
			// The live stream ends with the status, so open pages stop waiting.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_, closed, status := streamLines(t, ls, stream)
				if closed {
					if status != models.LoadTestInterrupted {
						t.Errorf("the stream ends with %q, want interrupted", status)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the interrupted run's stream was never closed")
				}
			}
			// The API shows the status and the reason.
			first.url = second.url
			code, body = api("GET", "/api/v1/loadtests/"+strconv.FormatInt(created.ID, 10), "")
			var shown struct {
				Status, Verdict, Error string
				Windows                []loadtest.Window
			}
			if code != http.StatusOK || json.Unmarshal(body, &shown) != nil {
				t.Fatalf("GET load test: %d %s", code, body)
			}
			if shown.Status != models.LoadTestInterrupted || shown.Error != ReasonLoadTestWorkerDied || len(shown.Windows) != len(windows) {
				t.Errorf("the API shows %s %q with %d windows", shown.Status, shown.Error, len(shown.Windows))
			}
			// Nobody attacks again after the restart.
			time.Sleep(2 * time.Second)
			if n := hits.Load(); n > hitsAtCrash+5 {
				t.Errorf("the target got %d requests after the crash: the attack was run again", n-hitsAtCrash)
			}
		})
	}
}

func TestRecoveryLeavesARunALiveWorkerIsExecuting(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run("on "+name, func(t *testing.T) {
			ctx := context.Background()
			target, _ := countingTarget(t)
			f := newLoadTestFixture(t, s, hostOf(target.URL), true)
			j, _ := startJobs(t, s, true)
			l, err := j.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: f.env, Spec: spec(20, 3*time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			waitLoadTest(t, s, l.ID, func(st string) bool { return st != models.LoadTestQueued })

			// Another process (a second client on the same database)
			// starts and recovers while the run goes on.
			other, _ := startJobs(t, s, false)
			if err := other.RecoverLoadTests(ctx); err != nil {
				t.Fatal(err)
			}
			if err := j.RecoverLoadTests(ctx); err != nil {
				t.Fatal(err)
			}
			got := waitLoadTest(t, s, l.ID, models.LoadTestFinished)
			if got.Status != models.LoadTestPassed {
				t.Fatalf("the run ended %s (%q), want passed: recovery touched a live run", got.Status, got.Error)
			}
		})
	}
}

func TestARetriedLoadTestJobRecordsInterruptedInsteadOfAttackingAgain(t *testing.T) {
	s := testkit.OpenStore(t, testkit.Migrations(Migrate))
	ctx := context.Background()
	target, hits := countingTarget(t)
	f := newLoadTestFixture(t, s, hostOf(target.URL), true)
	j, lg := startJobs(t, s, false)
	l, err := j.EnqueueLoadTest(ctx, s, LoadTestRequest{Env: f.env, Spec: spec(20, 2*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	// An earlier attempt started the attack and published a window.
	live, err := s.LiveRelease(ctx, f.env.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.StartLoadTest(ctx, l.ID, live.ID, live.ArtifactSHA256, f.env.URL(), time.Now().UTC()); err != nil || !ok {
		t.Fatalf("start: %v %v", ok, err)
	}
	w, err := lg.NewWriter(ctx, l.LogStream())
	if err != nil {
		t.Fatal(err)
	}
	w.Line(`{"second":0,"requests":20,"successes":20,"throughput":20,"p50":1,"p95":2,"p99":3}`)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	worker := &LoadTestWorker{deps: j.deps, j: j}
	job := &river.Job[LoadTestArgs]{JobRow: &rivertype.JobRow{ID: l.JobID, Attempt: 2}, Args: LoadTestArgs{LoadTestID: l.ID}}
	if err := worker.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadTest(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != models.LoadTestInterrupted || got.Error != ReasonLoadTestRetried {
		t.Fatalf("the retried run is %s %q, want interrupted %q", got.Status, got.Error, ReasonLoadTestRetried)
	}
	var windows []loadtest.Window
	if err := json.Unmarshal([]byte(got.Windows), &windows); err != nil || len(windows) != 1 || windows[0].Requests != 20 {
		t.Errorf("the run keeps windows %q (%v), want the one published", got.Windows, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the retry sent %d requests to the target", n)
	}
	if _, closed, status := streamLines(t, lg, l.LogStream()); !closed || status != models.LoadTestInterrupted {
		t.Errorf("stream closed %v with %q, want closed interrupted", closed, status)
	}
}
