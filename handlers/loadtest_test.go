package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

// newLoadTestServer is newTestServer with working job workers and a logs
// service, so load tests really run.
func newLoadTestServer(t *testing.T) *testServer {
	t.Helper()
	ctx := context.Background()
	store := testkit.OpenStore(t, testkit.Migrations(jobs.Migrate))
	lg := logs.NewService(store, logs.Options{})
	t.Cleanup(func() { lg.Close() })
	j, err := jobs.New(ctx, jobs.Deps{Store: store, Logs: lg}, jobs.Options{Work: true, MaintenanceEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = j.Stop(sctx)
	})
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Store: store, Jobs: j, Assets: assets, Logs: lg}, Config{})
	e := echo.New()
	h.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{t: t, srv: srv, store: store, h: h, e: e}
}

// environment creates project slug with an environment "staging" served at
// addr; deployed gives it a live release.
func (ts *testServer) environment(slug, addr string, deployed bool) *models.Environment {
	ts.t.Helper()
	ctx := context.Background()
	p := &models.Project{Slug: slug, Name: slug, RepoURL: "file:///x", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
	if err := testkit.InsertFixture(ctx, ts.store, p); err != nil {
		ts.t.Fatal(err)
	}
	env := &models.Environment{ProjectID: p.ID, Name: "staging", Target: models.TargetProcess, EdgeAddr: addr}
	if err := ts.store.CreateEnvironment(ctx, env); err != nil {
		ts.t.Fatal(err)
	}
	env.Project = *p
	if deployed {
		sha := fmt.Sprintf("%064x", p.ID)
		if err := testkit.InsertFixture(ctx, ts.store, &models.Artifact{SHA256: sha, Size: 1}); err != nil {
			ts.t.Fatal(err)
		}
		r := &models.Release{EnvironmentID: env.ID, ArtifactSHA256: sha, ConfigVersion: 1, Status: models.ReleaseLive, Reason: models.ReasonDeploy}
		if err := ts.store.CreateRelease(ctx, r); err != nil {
			ts.t.Fatal(err)
		}
	}
	return env
}

// app is a stand-in for an environment's app.
func app(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func waitRun(t *testing.T, ts *testServer, id int64) *models.LoadTest {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		l, err := ts.store.LoadTest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if models.LoadTestFinished(l.Status) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("load test %d still %s", id, l.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLoadTestAPIRefusesBadInput(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if err := ts.store.SetLoadTestLimits(ctx, models.LoadTestLimits{MaxRate: 100, MaxDuration: time.Minute, MaxConcurrent: 1, MaxWorkers: 64}); err != nil {
		t.Fatal(err)
	}
	ts.environment("shop", "127.0.0.1:9", true)
	ts.environment("bare", "", false)
	tok, _ := ts.token(ts.user("quinn", auth.QA))
	valid := `"environment":"staging","targets":"GET /\nGET /api","duration":"5s","timeout":"1s","pacer":"constant"`
	cases := []struct {
		name, slug, body string
		status           int
		want             string
	}{
		{"a rate of zero", "shop", `{` + valid + `,"rate":0}`, 422, "rate: must be above 0"},
		{"a negative rate", "shop", `{` + valid + `,"rate":-3}`, 422, "rate: must be above 0"},
		{"a rate above the cap", "shop", `{` + valid + `,"rate":500}`, 422, "rate: must be at most 100"},
		{"a missing rate", "shop", `{` + valid + `}`, 422, "rate: is required"},
		{"a duration above the cap", "shop", `{"environment":"staging","targets":"GET /","rate":5,"duration":"2h"}`, 422, "duration: must be at most 1m0s"},
		{"a duration that is not one", "shop", `{"environment":"staging","targets":"GET /","rate":5,"duration":"soon"}`, 422, `duration: must be a duration such as 30s or 2m, not \"soon\"`},
		{"a bad target line", "shop", `{"environment":"staging","targets":"GET /\nFETCH /x","rate":5,"duration":"5s"}`, 422, "targets: line 2"},
		{"a body file", "shop", `{"environment":"staging","targets":"POST /\n@/etc/passwd","rate":5,"duration":"5s"}`, 422, "targets: line 2"},
		{"a target on another host", "shop", `{"environment":"staging","targets":"GET http://10.1.2.3/","rate":5,"duration":"5s"}`, 422, "targets: line 1"},
		{"a linear ramp without its end", "shop", `{"environment":"staging","targets":"GET /","rate":5,"pacer":"linear","duration":"5s"}`, 422, "rate_to: is required"},
		{"a success ratio above 1", "shop", `{` + valid + `,"rate":5,"thresholds":{"min_success_ratio":1.5}}`, 422, "thresholds.min_success_ratio: must be between 0 and 1"},
		{"an unknown environment", "shop", `{"environment":"prod","targets":"GET /","rate":5,"duration":"5s"}`, 422, "environment: must name one of the project's environments (staging)"},
		{"an environment with nothing deployed", "bare", `{` + valid + `,"rate":5}`, 422, "environment: staging has nothing deployed"},
		{"a plan of another project", "shop", `{"plan_id":12345}`, 422, "plan_id: project shop has no plan with that id"},
		{"an unknown field", "shop", `{"rps":5}`, 400, `unknown field \"rps\"`},
		{"an unknown project", "nope", `{` + valid + `,"rate":5}`, 404, "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused with a message naming it", func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, "/api/v1/projects/"+tc.slug+"/loadtests", reqOpts{token: tok, body: tc.body, ctype: "application/json"})
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
	t.Run("a run beyond the concurrent cap gets 429", func(t *testing.T) {
		body := `{` + valid + `,"rate":5}`
		resp, b := ts.do(http.MethodPost, "/api/v1/projects/shop/loadtests", reqOpts{token: tok, body: body, ctype: "application/json"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first run: %d %s", resp.StatusCode, b)
		}
		resp, b = ts.do(http.MethodPost, "/api/v1/projects/shop/loadtests", reqOpts{token: tok, body: body, ctype: "application/json"})
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(b, "at most 1 load tests may be queued or running") {
			t.Fatalf("second run: %d %s", resp.StatusCode, b)
		}
	})
}

func TestLoadTestPlanFormShowsErrorsInline(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if err := ts.store.SetLoadTestLimits(ctx, models.LoadTestLimits{MaxRate: 100, MaxDuration: time.Minute, MaxConcurrent: 2, MaxWorkers: 64}); err != nil {
		t.Fatal(err)
	}
	env := ts.environment("shop", "127.0.0.1:9", true)
	bare := ts.environment("bare", "", false)
	sess := ts.session(ts.user("quinn", auth.QA))
	good := func() url.Values {
		return url.Values{"name": {"smoke"}, "environment": {idStr(env.ID)}, "targets": {"GET /\r\nGET /api"}, "pacer": {"constant"},
			"rate": {"10"}, "duration": {"5s"}, "timeout": {"1s"}, "p95_ms": {"300"}, "min_success_ratio": {"0.99"}}
	}
	with := func(k, v string) url.Values { f := good(); f.Set(k, v); return f }
	cases := []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"a missing name", with("name", ""), "name", "is required"},
		{"a rate of zero", with("rate", "0"), "rate", "must be above 0 requests per second"},
		{"a negative rate", with("rate", "-1"), "rate", "must be above 0 requests per second"},
		{"a rate above the cap", with("rate", "1000"), "rate", "must be at most 100 requests per second"},
		{"a rate that is not a number", with("rate", "fast"), "rate", "must be a number, not &#34;fast&#34;"},
		{"a duration above the cap", with("duration", "5m"), "duration", "must be at most 1m0s"},
		{"a bad target on line 3", with("targets", "GET /\nAccept: text/html\nGETT /x"), "targets", "line 3"},
		{"a target on another host", with("targets", "GET http://192.0.2.1/"), "targets", "line 1"},
		{"no targets", with("targets", " "), "targets", "enter at least one target"},
		{"an unknown environment", with("environment", "999"), "environment", "choose an environment"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is shown next to its field", func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, "/loadtests/plans", reqOpts{session: sess, csrf: true, form: tc.form})
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			i := strings.Index(body, `data-testid="error-`+tc.field+`"`)
			if i < 0 || !strings.Contains(body[i:min(i+400, len(body))], tc.want) {
				t.Fatalf("no %q error for %s in the form", tc.want, tc.field)
			}
			if !strings.Contains(body, `aria-invalid="true"`) && tc.field != "environment" {
				t.Fatal("the invalid field is not marked for assistive technology")
			}
		})
	}

	// A valid plan is saved; running it in an environment with nothing
	// deployed shows the reason on its form.
	f := good()
	f.Set("environment", idStr(bare.ID))
	resp, body := ts.do(http.MethodPost, "/loadtests/plans", reqOpts{session: sess, csrf: true, form: f})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving a valid plan: %d %s", resp.StatusCode, body)
	}
	plans, err := ts.store.LoadTestPlans(ctx)
	if err != nil || len(plans) != 1 || plans[0].ThresholdP95 != 300*time.Millisecond || plans[0].Targets != "GET /\nGET /api" {
		t.Fatalf("saved plans = %+v, %v", plans, err)
	}
	resp, body = ts.do(http.MethodPost, "/loadtests/plans/"+idStr(plans[0].ID)+"/run", reqOpts{session: sess, csrf: true, form: url.Values{}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "staging has nothing deployed: deploy a build there first") {
		t.Fatalf("running a plan of an empty environment: %d", resp.StatusCode)
	}
	f.Set("name", "smoke")
	resp, body = ts.do(http.MethodPost, "/loadtests/plans", reqOpts{session: sess, csrf: true, form: f})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "a plan called smoke already exists in bare") {
		t.Fatalf("a second plan with the same name: %d", resp.StatusCode)
	}
}

// TestLoadTestRunsEndToEnd runs real load tests through the API against a
// real HTTP server standing in for the environment: a passing run with its
// metrics, the live websocket feed, the run and compare pages, the JSON
// download, and a cancel.
func TestLoadTestRunsEndToEnd(t *testing.T) {
	ts := newLoadTestServer(t)
	ctx := context.Background()
	env := ts.environment("shop", app(t), true)
	qa := ts.user("quinn", auth.QA)
	tok, _ := ts.token(qa)
	sess := ts.session(qa)
	plan := &models.LoadTestPlan{ProjectID: env.ProjectID, EnvironmentID: env.ID, Name: "smoke", Targets: "GET /\nGET /api", Pacer: "constant",
		Rate: 20, Duration: 2 * time.Second, Timeout: time.Second, ThresholdP95: time.Second, MinSuccessRatio: 0.99}
	if err := ts.store.CreateLoadTestPlan(ctx, plan); err != nil {
		t.Fatal(err)
	}

	create := func(body string) int64 {
		t.Helper()
		resp, b := ts.do(http.MethodPost, "/api/v1/projects/shop/loadtests", reqOpts{token: tok, body: body, ctype: "application/json"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, b)
		}
		var out struct{ ID int64 }
		if err := json.Unmarshal([]byte(b), &out); err != nil || out.ID == 0 {
			t.Fatalf("create answered %s", b)
		}
		return out.ID
	}

	// The live feed: follow the first run from the start.
	first := create(fmt.Sprintf(`{"plan_id":%d}`, plan.ID))
	wsURL := "ws" + strings.TrimPrefix(ts.srv.URL, "http") + "/loadtests/" + idStr(first) + "/live"
	hdr := http.Header{"Cookie": {sessionCookie + "=" + sess}, "Origin": {ts.srv.URL}}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	if err != nil {
		t.Fatal(err)
	}
	var windows int
	var end liveFrame
	for {
		var f liveFrame
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("live feed broke after %d windows: %v", windows, err)
		}
		if f.Type == "end" {
			end = f
			break
		}
		var w struct{ Second, Requests int }
		if err := json.Unmarshal(f.Window, &w); err != nil || w.Second != windows {
			t.Fatalf("window %d: %s (%v)", windows, f.Window, err)
		}
		windows++
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after the end frame the feed must close normally (1000), got %v", err)
	}
	conn.Close()
	if windows < 2 || end.Status != models.LoadTestPassed {
		t.Fatalf("live feed: %d windows, end %+v", windows, end)
	}

	// A page of another site may not open the feed.
	hdr.Set("Origin", "http://evil.example")
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin websocket was not refused: %v", err)
	}

	resp, body := ts.do(http.MethodGet, "/api/v1/loadtests/"+idStr(first), reqOpts{token: tok})
	var got struct {
		Status, Verdict string
		Metrics         struct {
			Requests  uint64
			Success   float64
			Latencies struct{ P50, P95 float64 }
			Targets   []struct {
				Method, URL      string
				Requests, Errors uint64
				StatusCodes      map[string]int `json:"status_codes"`
			}
		}
		Thresholds []struct {
			Name string
			Pass bool
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("show: %d %s", resp.StatusCode, body)
	}
	if got.Status != "passed" || got.Verdict != "pass" || got.Metrics.Requests < 20 || got.Metrics.Success != 1 || got.Metrics.Latencies.P50 <= 0 || len(got.Thresholds) < 5 {
		t.Fatalf("finished run = %s", body)
	}
	// Per target, in the plan's order, adding up to the total.
	if tg := got.Metrics.Targets; len(tg) != 2 || !strings.HasSuffix(tg[0].URL, "/") || !strings.HasSuffix(tg[1].URL, "/api") ||
		tg[0].Requests+tg[1].Requests != got.Metrics.Requests || tg[0].Errors+tg[1].Errors != 0 || tg[1].StatusCodes["200"] != int(tg[1].Requests) {
		t.Errorf("metrics.targets = %+v (requests %d)", tg, got.Metrics.Requests)
	}

	// An inline run of the same plan's shape, for comparison; then the pages.
	second := create(fmt.Sprintf(`{"plan_id":%d}`, plan.ID))
	waitRun(t, ts, second)
	resp, body = ts.do(http.MethodGet, "/loadtests/"+idStr(first), reqOpts{session: sess})
	for _, want := range []string{`data-testid="latencies"`, `data-testid="histogram"`, `data-testid="checks"`, `data-testid="status-codes"`,
		`data-testid="result-chart"`, `data-windows="[{&#34;second&#34;:0,`, `data-testid="compare-form"`, `data-testid="per-target"`,
		`data-thresholds="{&#34;p95&#34;:1000,&#34;max_error_pct&#34;:1,&#34;has_error_pct&#34;:true}"`, "p99", "successful responses"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("run page lacks %s (status %d)", want, resp.StatusCode)
		}
	}
	resp, body = ts.do(http.MethodGet, "/loadtests/"+idStr(first)+"/compare?with="+idStr(second), reqOpts{session: sess})
	if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="deltas"`) || !strings.Contains(body, "Latency p95") ||
		!strings.Contains(body, `data-a-label="A #`+idStr(first)+`"`) || !strings.Contains(body, `data-b-label="B #`+idStr(second)+`"`) {
		t.Fatalf("compare page: %d", resp.StatusCode)
	}
	resp, body = ts.do(http.MethodGet, "/loadtests/"+idStr(first)+"/report.json", reqOpts{session: sess})
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || !json.Valid([]byte(body)) {
		t.Fatalf("report download: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	resp, body = ts.do(http.MethodGet, "/loadtests", reqOpts{session: sess})
	if resp.StatusCode != 200 || !strings.Contains(body, `data-testid="run-row-`+idStr(first)+`"`) || !strings.Contains(body, `data-testid="plan-smoke"`) {
		t.Fatalf("list page: %d", resp.StatusCode)
	}

	// Cancel through the API: 202, then the run ends canceled with a fail.
	long := create(`{"environment":"staging","targets":"GET /","rate":5,"duration":"60s","timeout":"1s"}`)
	for {
		l, err := ts.store.LoadTest(ctx, long)
		if err != nil {
			t.Fatal(err)
		}
		if l.Status == models.LoadTestRunning {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, body = ts.do(http.MethodPost, "/api/v1/loadtests/"+idStr(long)+"/cancel", reqOpts{token: tok})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	l := waitRun(t, ts, long)
	if l.Status != models.LoadTestCanceled || l.Verdict != "fail" {
		t.Fatalf("canceled run ended %s/%s", l.Status, l.Verdict)
	}
	resp, body = ts.do(http.MethodPost, "/api/v1/loadtests/"+idStr(long)+"/cancel", reqOpts{token: tok})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already finished") {
		t.Fatalf("second cancel: %d %s", resp.StatusCode, body)
	}
}
