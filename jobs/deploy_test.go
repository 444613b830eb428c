package jobs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// testBox is an AES-GCM SecretBox for tests.
type testBox struct{ aead cipher.AEAD }

func newTestBox(t *testing.T) *testBox {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &testBox{aead}
}

func (b *testBox) Seal(p, ad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, p, ad)
}

func (b *testBox) Open(s, ad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(s) < n {
		return nil, fmt.Errorf("short")
	}
	return b.aead.Open(nil, s[:n], s[n:], ad)
}

// deployHarness is a portal's deploy machinery over a fresh SQLite store:
// River workers, the logs service, an artifact store and a deploy Manager.
type deployHarness struct {
	t         *testing.T
	dir       string
	store     *models.Store
	logs      *logs.Service
	artifacts *artifact.Store
	box       *testBox
	mgr       *deploy.Manager
	events    *DeployEvents
	jobs      *Jobs
	appBin    string
	project   *models.Project
	envs      map[string]*models.Environment
	user      *models.User
	// commit is the commit SHA the next recorded build is of (default c…c).
	commit string
}

// testApp is the test app binary, built once per test binary.
var testApp string

// mainWithTestApp builds the test app, then runs the tests.
func mainWithTestApp(m *testing.M) int {
	dir, err := os.MkdirTemp("", "slipway-jobs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testApp = filepath.Join(dir, "app")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-ldflags=-s -w", "-o", testApp, "./testdata/app")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test app: %v\n%s", err, out)
		return 1
	}
	return testpg.Main(m)
}

func newDeployHarness(t *testing.T) *deployHarness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store := testkit.OpenStore(t, testkit.On(models.Config{DataDir: filepath.Join(dir, "data")}), testkit.Migrations(Migrate))
	arts, err := artifact.NewStore(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	h := &deployHarness{t: t, dir: dir, store: store, artifacts: arts, box: newTestBox(t), appBin: testApp, envs: map[string]*models.Environment{}}
	h.logs = logs.NewService(store, logs.Options{})
	if err := h.logs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.logs.Close() })
	h.start()

	h.project = &models.Project{Slug: "shop", Name: "Shop", RepoURL: "file:///shop", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 1}
	if err := testkit.InsertFixture(ctx, store, h.project); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDefaultEnvironments(ctx, h.project.ID, "main"); err != nil {
		t.Fatal(err)
	}
	h.user = &models.User{Username: "dev", PasswordHash: "x", Role: "developer"}
	if err := store.CreateUser(ctx, h.user); err != nil {
		t.Fatal(err)
	}
	h.reloadEnvs()
	return h
}

// start starts a Manager and the workers (again, after stop).
func (h *deployHarness) start() {
	h.t.Helper()
	ctx := context.Background()
	h.events = NewDeployEvents(h.store, nil)
	h.mgr = deploy.NewManager(deploy.Options{
		ReleasesDir: filepath.Join(h.dir, "releases"), WorkDir: filepath.Join(h.dir, "data", "appdata"),
		StateFile: filepath.Join(h.dir, "data", "run", "apps.json"), HealthTimeout: 10 * time.Minute, DrainTimeout: 5 * time.Second,
		StopTimeout: 5 * time.Second, RestartBackoffMin: 50 * time.Millisecond, OnEvent: h.events.Record,
	})
	j, err := New(ctx, Deps{Store: h.store, Logs: h.logs, Artifacts: h.artifacts, Deploy: h.mgr, Secrets: h.box, DataDir: filepath.Join(h.dir, "data")}, Options{Work: true})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := j.RecoverDeploys(ctx); err != nil {
		h.t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.jobs = j
	h.t.Cleanup(h.stop)
}

// stop shuts down like `slipway serve`: workers, then the Manager.
func (h *deployHarness) stop() {
	if h.jobs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = h.jobs.Stop(ctx)
	if err := h.mgr.Close(ctx); err != nil {
		h.t.Errorf("close manager: %v", err)
	}
	h.events.Close()
	h.jobs = nil
}

func (h *deployHarness) reloadEnvs() {
	h.t.Helper()
	_, envs, err := h.store.ProjectEnvironments(context.Background(), h.project.Slug)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := range envs {
		h.envs[envs[i].Name] = &envs[i]
	}
}

// build packs the test app with version.txt into an artifact (stored,
// not compressed, to keep tests quick) and records a succeeded build
// whose .slipway.yml runs it with run.
func (h *deployHarness) build(version, run string) *models.Build {
	h.t.Helper()
	bin, err := os.ReadFile(h.appBin)
	if err != nil {
		h.t.Fatal(err)
	}
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"bin/", 0o755, nil}, {"bin/app", 0o755, bin}, {"version.txt", 0o644, []byte(version + "\n")}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			h.t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		h.t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		h.t.Fatal(err)
	}
	return h.recordBuild(buf.Bytes(), run)
}

// recordBuild stores artifact bytes and records a build that made them.
func (h *deployHarness) recordBuild(tgz []byte, run string) *models.Build {
	h.t.Helper()
	ctx := context.Background()
	info, err := h.artifacts.Put(ctx, bytes.NewReader(tgz))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := testkit.InsertFixture(ctx, h.store, &models.Artifact{SHA256: info.SHA256, Size: info.Size}); err != nil && !strings.Contains(err.Error(), "exists") {
		h.t.Fatal(err)
	}
	h.project.NextBuildNumber++
	yml := fmt.Sprintf("build:\n  - run: go build -o bin/app .\nartifact:\n  paths: [bin, version.txt]\napp:\n  run: %s\n  health: /healthz\n  health_timeout: 2s\n", run)
	sha := info.SHA256
	commit := h.commit
	if commit == "" {
		commit = strings.Repeat("c", 40)
	}
	b := &models.Build{ProjectID: h.project.ID, Number: h.project.NextBuildNumber, Ref: "main", RefType: "branch",
		CommitSHA: commit, Trigger: "manual", Status: models.BuildSucceeded, PipelineYAML: yml, ArtifactSHA256: &sha}
	if err := testkit.InsertFixture(ctx, h.store, b); err != nil {
		h.t.Fatal(err)
	}
	return b
}

// deploy enqueues a deploy of b into env.
func (h *deployHarness) deploy(env string, b *models.Build) *models.Release {
	h.t.Helper()
	r, err := h.jobs.EnqueueDeploy(context.Background(), h.store, DeployRequest{Env: h.envs[env], Build: b, Reason: models.ReasonDeploy, By: &h.user.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// rollback enqueues a rollback of env to src.
func (h *deployHarness) rollback(env string, src, of *models.Release) *models.Release {
	h.t.Helper()
	r, err := h.jobs.EnqueueDeploy(context.Background(), h.store, DeployRequest{Env: h.envs[env], Source: src, RollbackOf: &of.ID,
		Reason: models.ReasonRollback, By: &h.user.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// wait waits until release id has finished deploying and returns it.
func (h *deployHarness) wait(id int64) *models.Release {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r, err := h.store.Release(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if models.ReleaseFinished(r.Status) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("release %d did not finish in time", id)
	return nil
}

// live deploys b and fails the test unless it goes live.
func (h *deployHarness) live(env string, b *models.Build) *models.Release {
	h.t.Helper()
	r := h.wait(h.deploy(env, b).ID)
	if r.Status != models.ReleaseLive {
		h.t.Fatalf("release %d is %s: %s\n%s", r.ID, r.Status, r.Error, r.Output)
	}
	return r
}

// get fetches the environment's URL and returns the body.
func (h *deployHarness) get(env string) string {
	h.t.Helper()
	e, err := h.store.Environment(context.Background(), h.envs[env].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	if e.URL() == "" {
		h.t.Fatalf("%s has no URL", env)
	}
	resp, err := http.Get(e.URL() + "/")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", e.URL(), resp.StatusCode, b)
	}
	return string(b)
}

func TestDeployRunsTheReleaseWithItsConfiguration(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	dev := h.envs["dev"]
	if err := h.store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: dev.ID, Name: "GREETING", Value: "hello"}); err != nil {
		t.Fatal(err)
	}
	sealed := h.box.Seal([]byte("s3cret"), models.SecretAD(dev.ID, "TOKEN"))
	if err := h.store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: dev.ID, Name: "TOKEN", Secret: true, ValueSealed: sealed}); err != nil {
		t.Fatal(err)
	}
	r := h.live("dev", h.build("v1", "./bin/app"))
	if got := h.get("dev"); got != "v1-hello-s3cret" {
		t.Fatalf("the app must see its variables and secrets: got %q", got)
	}
	if strings.Contains(r.ConfigSummary, "s3cret") {
		t.Fatal("the release's config summary must not hold secret values")
	}
	text := h.streamText(r.LogStream())
	for _, want := range []string{"deploying release", "healthy: pid", "is live"} {
		if !strings.Contains(text, want) {
			t.Errorf("deploy log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "s3cret") {
		t.Error("the deploy log must not show secret values")
	}
}

func TestZeroDowntimeAcrossDeployAndRollback(t *testing.T) {
	h := newDeployHarness(t)
	v1 := h.live("dev", h.build("v1", "./bin/app"))
	b2 := h.build("v2", "./bin/app")
	url := h.envs["dev"].URL()
	if url == "" {
		h.reloadEnvs()
		url = h.envs["dev"].URL()
	}

	const rate, dur = 200, 5 * time.Second
	type result struct {
		rep *loadtest.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := loadtest.Run(context.Background(), loadtest.Spec{BaseURL: url, Targets: "GET /", Rate: rate, Duration: dur,
			Timeout: 10 * time.Second}, nil)
		done <- result{rep, err}
	}()
	time.Sleep(time.Second)
	v2 := h.wait(h.deploy("dev", b2).ID)
	if v2.Status != models.ReleaseLive {
		t.Fatalf("v2 did not go live: %s %s", v2.Status, v2.Error)
	}
	if got := h.get("dev"); !strings.HasPrefix(got, "v2") {
		t.Fatalf("after the deploy the edge must serve v2, got %q", got)
	}
	time.Sleep(time.Second)
	requested := time.Now()
	rb := h.rollback("dev", v1, v2)
	// All traffic is on v1 once the release is live: the switch is atomic.
	rb = h.wait(rb.ID)
	rollbackTook := time.Since(requested)
	if rb.Status != models.ReleaseLive {
		t.Fatalf("rollback failed: %s", rb.Error)
	}
	if got := h.get("dev"); !strings.HasPrefix(got, "v1") {
		t.Fatalf("after the rollback the edge must serve v1, got %q", got)
	}
	if rb.InstanceReleaseID == nil || *rb.InstanceReleaseID != v1.ID {
		t.Errorf("the rollback must switch back to v1's warm instance, got instance %v", rb.InstanceReleaseID)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	rep := res.rep
	// Every request sent got a 200: none failed, none was lost. (How many
	// the attacker managed to send depends on the machine; a loaded
	// machine sends fewer, never drops one.)
	if rep.Requests == 0 || rep.StatusCodes["200"] != int(rep.Requests) || len(rep.Errors) > 0 {
		t.Fatalf("every request must succeed: %d sent, status codes %v, errors %v", rep.Requests, rep.StatusCodes, rep.Errors)
	}
	t.Logf("%d requests at %.0f/s, all 200; rollback (warm) request → live: %s; longest request during deploy and rollback: %s; p99 %s",
		rep.Requests, rep.Rate, rollbackTook, rep.Latencies.Max, rep.Latencies.P99)

	bad, _ := h.store.Release(context.Background(), v2.ID)
	if bad.Status != models.ReleaseRolledBack || !bad.Rejected {
		t.Errorf("v2 must be rolled back and rejected: %s rejected=%v", bad.Status, bad.Rejected)
	}
	env, _ := h.store.Environment(context.Background(), h.envs["dev"].ID)
	if !env.AutoDeployPaused || !strings.Contains(env.AutoDeployPausedReason, fmt.Sprintf("#%d", v2.ID)) {
		t.Errorf("auto-deploy must pause after a rollback: %v %q", env.AutoDeployPaused, env.AutoDeployPausedReason)
	}
}

func TestFailedDeploysKeepTheOldReleaseServing(t *testing.T) {
	h := newDeployHarness(t)
	h.live("dev", h.build("v1", "./bin/app"))
	for _, tc := range []struct {
		name, run string
		wantErr   string
		wantOut   string
	}{
		{"an app that never passes its health check fails the deploy", "./bin/app --fail-health", "did not pass its health check GET /healthz", ""},
		{"an app that exits at once fails the deploy with its output", "./bin/app --exit", "exited before it became healthy (exit status 3)", "fatal: told to exit at once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.wait(h.deploy("dev", h.build("bad-"+strings.Fields(tc.run)[1], tc.run)).ID)
			if r.Status != models.ReleaseFailed {
				t.Fatalf("release is %s, want failed", r.Status)
			}
			if !strings.Contains(r.Error, tc.wantErr) {
				t.Errorf("error %q lacks %q", r.Error, tc.wantErr)
			}
			if !strings.Contains(r.Output, tc.wantOut) || !strings.Contains(r.Output, "starting") {
				t.Errorf("the instance's output must be kept, got %q", r.Output)
			}
			if got := h.get("dev"); !strings.HasPrefix(got, "v1") {
				t.Errorf("v1 must keep serving, got %q", got)
			}
		})
	}
	evs, err := h.store.ReleaseEvents(context.Background(), h.envs["dev"].ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == string(deploy.EventCrashed) {
			t.Errorf("a failed start is no crash of the live release: %+v", ev)
		}
	}
}

func TestPortConflictOnTheEdgeAddressIsAClearError(t *testing.T) {
	h := newDeployHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dev := h.envs["dev"]
	dev.EdgeAddr = ln.Addr().String()
	if err := h.store.UpdateEnvironment(context.Background(), dev, false); err != nil {
		t.Fatal(err)
	}
	r := h.wait(h.deploy("dev", h.build("v1", "./bin/app")).ID)
	want := "the edge address " + ln.Addr().String() + " of dev is in use by another program"
	if r.Status != models.ReleaseFailed || !strings.Contains(r.Error, want) {
		t.Fatalf("got %s %q, want failed with %q", r.Status, r.Error, want)
	}
}

func TestRestartServesTheLiveReleasesAgain(t *testing.T) {
	h := newDeployHarness(t)
	h.live("dev", h.build("v1", "./bin/app"))
	staging := h.live("staging", h.build("v2", "./bin/app"))
	h.reloadEnvs()
	devURL, stagingURL := h.envs["dev"].URL(), h.envs["staging"].URL()

	h.stop()
	if _, err := http.Get(devURL + "/"); err == nil {
		t.Fatal("with the portal stopped the edge must be down (else the test proves nothing)")
	}
	h.start()
	if err := h.jobs.RestoreEnvironments(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.reloadEnvs()
	if h.envs["dev"].URL() != devURL || h.envs["staging"].URL() != stagingURL {
		t.Fatalf("URLs must stay stable across restarts: %s %s → %s %s", devURL, stagingURL, h.envs["dev"].URL(), h.envs["staging"].URL())
	}
	if got := h.get("dev"); !strings.HasPrefix(got, "v1") {
		t.Errorf("dev serves %q after the restart, want v1", got)
	}
	if got := h.get("staging"); !strings.HasPrefix(got, "v2") {
		t.Errorf("staging serves %q after the restart, want v2", got)
	}
	evs, _ := h.store.ReleaseEvents(context.Background(), h.envs["staging"].ID, 0)
	if len(evs) == 0 || evs[0].Kind != models.EventRestored || evs[0].ReleaseID != staging.ID {
		t.Errorf("the restore must be recorded: %+v", evs)
	}
}

func TestDeploysToOneEnvironmentNeverOverlap(t *testing.T) {
	h := newDeployHarness(t)
	var builds []*models.Build
	for i := range 3 {
		builds = append(builds, h.build(fmt.Sprintf("v%d", i+1), "./bin/app --start-delay=300ms"))
	}
	var ids []int64
	for _, b := range builds {
		ids = append(ids, h.deploy("dev", b).ID)
	}
	// While the first deploy runs, the others say what they wait for.
	sawWaiting := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !sawWaiting; time.Sleep(10 * time.Millisecond) {
		r, _ := h.store.Release(context.Background(), ids[1])
		if w, _ := h.store.ReleaseWaitingFor(context.Background(), r); w == ids[0] {
			sawWaiting = true
		}
	}
	if !sawWaiting {
		t.Error("the second deploy never said it waits for the first")
	}
	for _, id := range ids {
		h.wait(id)
	}
	var rels []*models.Release
	for _, id := range ids {
		r, err := h.store.Release(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, r)
	}
	for i := 1; i < len(rels); i++ {
		prev, cur := rels[i-1], rels[i]
		if cur.StartedAt.Before(*prev.FinishedAt) {
			t.Errorf("release %d started at %s, before release %d finished at %s", cur.ID, cur.StartedAt, prev.ID, prev.FinishedAt)
		}
	}
	if rels[2].Status != models.ReleaseLive || rels[0].Status != models.ReleaseSuperseded || rels[1].Status != models.ReleaseSuperseded {
		t.Errorf("the deploys must go live in order: %s %s %s", rels[0].Status, rels[1].Status, rels[2].Status)
	}
	if got := h.get("dev"); !strings.HasPrefix(got, "v3") {
		t.Errorf("the last deploy must be live, got %q", got)
	}
}

func TestAMaliciousArtifactFailsTheDeployCleanly(t *testing.T) {
	h := newDeployHarness(t)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("pwned")
	_ = tw.WriteHeader(&tar.Header{Name: "../escaped.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(body)
	_ = tw.Close()
	_ = gz.Close()
	r := h.wait(h.deploy("dev", h.recordBuild(buf.Bytes(), "./bin/app")).ID)
	if r.Status != models.ReleaseFailed || !strings.Contains(r.Error, "unpack the artifact") {
		t.Fatalf("got %s %q, want a failed unpack", r.Status, r.Error)
	}
	for _, p := range []string{filepath.Join(h.dir, "escaped.txt"), filepath.Join(h.dir, "releases", "..", "escaped.txt")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s was written outside the release directory", p)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(h.dir, "releases"))
	for _, e := range entries {
		t.Errorf("nothing may be left in the releases directory, found %s", e.Name())
	}
}

func TestAutoDeployFollowsTheBranchUnlessPaused(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	b := h.build("v1", "./bin/app")
	if err := h.jobs.Delivery().AutoDeploy(ctx, h.store, b); err != nil {
		t.Fatal(err)
	}
	rs, _ := h.store.Releases(ctx, h.envs["dev"].ID, 0)
	if len(rs) != 1 || rs[0].Reason != models.ReasonAuto {
		t.Fatalf("a build of main must auto-deploy to dev: %+v", rs)
	}
	if rs, _ := h.store.Releases(ctx, h.envs["production"].ID, 0); len(rs) != 0 {
		t.Fatal("nothing auto-deploys to production")
	}
	h.wait(rs[0].ID)
	if err := h.store.PauseAutoDeploy(ctx, h.envs["dev"].ID, "rolled back"); err != nil {
		t.Fatal(err)
	}
	if err := h.jobs.Delivery().AutoDeploy(ctx, h.store, h.build("v2", "./bin/app")); err != nil {
		t.Fatal(err)
	}
	if rs, _ := h.store.Releases(ctx, h.envs["dev"].ID, 0); len(rs) != 1 {
		t.Fatalf("a paused environment must not auto-deploy: %d releases", len(rs))
	}
}
