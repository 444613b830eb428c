package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

// newDeployTestServer is a portal whose handler reads instances from a
// real deploy Manager (closed when the test ends, leaving no process).
func newDeployTestServer(t *testing.T) (*testServer, *deploy.Manager) {
	t.Helper()
	mgr := deploy.NewManager(deploy.Options{WorkDir: t.TempDir(), HealthTimeout: 30 * time.Second,
		DrainTimeout: 5 * time.Second, StopTimeout: 5 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := mgr.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return newEngineTestServer(t, mgr), mgr
}

// newEngineTestServer is a portal whose handler reads instances from eng.
func newEngineTestServer(t *testing.T, eng deploy.Engine) *testServer {
	t.Helper()
	store := testkit.OpenStore(t, testkit.Migrations(jobs.Migrate))
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Store: store, Assets: assets, Deploy: eng}, Config{})
	e := echo.New()
	h.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{t: t, srv: srv, store: store, h: h, e: e}
}

// buildTestApp builds the deploy engine's test app (an HTTP server on
// $PORT) into a release directory and returns that directory.
func buildTestApp(t *testing.T) string {
	t.Helper()
	return buildTestAppIn(t, t.TempDir())
}

func buildTestAppIn(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "app"), "../internal/deploy/testdata/app")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test app: %v\n%s", err, out)
	}
	return dir
}

// scrape fetches /metrics signed out and parses it, failing the test when
// the exposition does not parse.
func (ts *testServer) scrape() map[string]*dto.MetricFamily {
	ts.t.Helper()
	tok, _ := ts.token(ts.user("prometheus"+strconv.FormatInt(scrapers.Add(1), 10), auth.Viewer))
	return ts.scrapeWith(reqOpts{token: tok})
}

// scrapers numbers the scrapers' users.
var scrapers atomic.Int64

// scrapeWith reads /metrics as opts say (signed out with reqOpts{}).
func (ts *testServer) scrapeWith(opts reqOpts) map[string]*dto.MetricFamily {
	ts.t.Helper()
	resp, body := ts.do(http.MethodGet, "/metrics", opts)
	if resp.StatusCode != http.StatusOK {
		ts.t.Fatalf("GET /metrics = %d, want 200 (it is public)", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		ts.t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

// samples returns the samples of metric whose labels include want, each
// as its label set and value.
func samples(fams map[string]*dto.MetricFamily, metric string, want map[string]string) []map[string]string {
	var out []map[string]string
	for _, m := range fams[metric].GetMetric() {
		ls := map[string]string{}
		for _, lp := range m.GetLabel() {
			ls[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && ls[k] == v
		}
		if !match {
			continue
		}
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		ls["="] = strconv.FormatFloat(v, 'f', -1, 64)
		out = append(out, ls)
	}
	return out
}

func value(s map[string]string) float64 {
	v, _ := strconv.ParseFloat(s["="], 64)
	return v
}

// Two real instances behind the edge: the requests sent through the edge
// show up per instance, by slot, on the public /metrics.
func TestMetricsExportEachInstanceOfAPool(t *testing.T) {
	ts, mgr := newDeployTestServer(t)
	f := seedEnvironments(t, ts)
	dev := f.envs["dev"]
	ctx := context.Background()
	// An environment whose name needs escaping in the exposition, and a
	// script environment, which has no instances.
	odd := &models.Environment{ProjectID: f.project.ID, Name: "qa \"blue\" \\ new\nline", Target: models.TargetProcess}
	script := &models.Environment{ProjectID: f.project.ID, Name: "hosted", Target: models.TargetScript, ScriptCommand: "true"}
	// A name that is not UTF-8 cannot be a label value: its samples are
	// left out, the scrape still answers.
	broken := &models.Environment{ProjectID: f.project.ID, Name: "bad\xffname", Target: models.TargetProcess}
	for _, e := range []*models.Environment{odd, script, broken} {
		if err := ts.store.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	addr, err := mgr.EnsureEdge(dev.EngineKey(), "")
	if err != nil {
		t.Fatal(err)
	}
	spec := deploy.RolloutSpec{Instances: 2, InstanceSpec: deploy.InstanceSpec{Env: dev.EngineKey(), ReleaseID: f.r2.ID,
		Dir: buildTestApp(t), Command: "exec ./app", Vars: map[string]string{"VERSION": "v2"}, HealthPath: "/healthz"}}
	if _, err := mgr.Rollout(ctx, spec, nil); err != nil {
		t.Fatal(err)
	}
	const n = 40
	client := &http.Client{Timeout: 10 * time.Second}
	for range n {
		resp, err := client.Get("http://" + addr + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET through the edge = %d", resp.StatusCode)
		}
	}

	fams := ts.scrape()
	devLabels := map[string]string{"project": "shop", "environment": "dev"}
	reqs := samples(fams, "slipway_instance_requests_total", devLabels)
	sum, slots := 0.0, map[string]float64{}
	for _, s := range reqs {
		if s["release"] != strconv.FormatInt(f.r2.ID, 10) {
			t.Errorf("sample %v: release label, want %d", s, f.r2.ID)
		}
		sum += value(s)
		slots[s["slot"]] = value(s)
	}
	if sum < n || slots["1"] == 0 || slots["2"] == 0 || len(slots) != 2 {
		t.Errorf("requests by slot = %v (sum %v), want slots 1 and 2 each counted and at least %d in all", slots, sum, n)
	}
	if fams["slipway_instance_requests_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("slipway_instance_requests_total is a %v, want a counter", fams["slipway_instance_requests_total"].GetType())
	}
	for _, metric := range []string{"slipway_instance_errors_total", "slipway_instance_restarts_total", "slipway_instance_in_flight"} {
		if got := samples(fams, metric, devLabels); len(got) != 2 || value(got[0])+value(got[1]) != 0 {
			t.Errorf("%s = %v, want two zero samples", metric, got)
		}
	}
	if up := samples(fams, "slipway_instance_up", devLabels); len(up) != 2 || value(up[0]) != 1 || value(up[1]) != 1 {
		t.Errorf("slipway_instance_up = %v, want 1 for both instances", up)
	}
	for metric, want := range map[string]float64{"slipway_environment_instances_desired": 2, "slipway_environment_instances_serving": 2} {
		if got := samples(fams, metric, devLabels); len(got) != 1 || value(got[0]) != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
	// Environments with nothing running still say what they want; the
	// odd name comes back exactly as stored after escaping.
	if got := samples(fams, "slipway_environment_instances_serving", map[string]string{"project": "shop", "environment": odd.Name}); len(got) != 1 || value(got[0]) != 0 {
		t.Errorf("serving of %q = %v, want one 0 sample", odd.Name, got)
	}
	if got := samples(fams, "slipway_environment_instances_desired", map[string]string{"environment": "hosted"}); len(got) != 0 {
		t.Errorf("a script environment exported %v", got)
	}

	// Scaled to one, slot 2 leaves the pool: it is down while it drains.
	if err := mgr.Scale(ctx, dev.EngineKey(), 1); err != nil {
		t.Fatal(err)
	}
	fams = ts.scrape()
	for _, s := range samples(fams, "slipway_instance_up", devLabels) {
		if want := map[string]float64{"1": 1, "2": 0}[s["slot"]]; value(s) != want {
			t.Errorf("after scaling to 1, up of slot %s = %v, want %v", s["slot"], value(s), want)
		}
	}
	if got := samples(fams, "slipway_environment_instances_serving", devLabels); len(got) != 1 || value(got[0]) != 1 {
		t.Errorf("after scaling to 1, serving = %v", got)
	}
	// The saved setting is what the environment wants, as on its page,
	// before the scale job has caught up.
	if err := ts.store.SetEnvironmentInstances(ctx, dev.ID, 3); err != nil {
		t.Fatal(err)
	}
	if got := samples(ts.scrape(), "slipway_environment_instances_desired", devLabels); len(got) != 1 || value(got[0]) != 3 {
		t.Errorf("desired with the setting at 3 = %v, want 3", got)
	}
}

// /metrics stays public, and a viewer's session sees the same page: the
// instance metrics did not change who may read it.
func TestMetricsNameProjectsOnlyToASignedInScraper(t *testing.T) {
	ts, _ := newDeployTestServer(t)
	if p, ok := ts.h.Permission(http.MethodGet, "/metrics"); !ok || p != auth.Public {
		t.Fatalf("GET /metrics declares %q, want %q", p, auth.Public)
	}
	seedEnvironments(t, ts)
	dev := map[string]string{"project": "shop", "environment": "dev"}
	anon := ts.scrapeWith(reqOpts{}) // signed out: the portal's own metrics only
	if _, ok := anon["go_goroutines"]; !ok {
		t.Errorf("signed out, the portal's own metrics are missing")
	}
	for name := range anon {
		if strings.HasPrefix(name, "slipway_instance_") || strings.HasPrefix(name, "slipway_environment_") {
			t.Errorf("signed out, %s is served: it names projects and environments", name)
		}
	}
	if got := samples(ts.scrape(), "slipway_environment_instances_desired", dev); len(got) != 1 {
		t.Errorf("with a viewer's API token, desired of dev = %v, want one sample", got)
	}
	viewer := ts.session(ts.user("vic", auth.Viewer))
	if got := samples(ts.scrapeWith(reqOpts{session: viewer}), "slipway_environment_instances_desired", dev); len(got) != 1 {
		t.Errorf("a signed-in viewer's session, desired of dev = %v, want one sample", got)
	}
}
