package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/dora/doratest"
	"github.com/slipway-ci/slipway/models"
)

// doraServer is a portal whose project "shop" has the seeded production
// history (internal/dora/doratest), looked at on Dec 4 2026 15:00 UTC,
// with the project's repository where the portal keeps its mirror.
func doraServer(t *testing.T) *testServer {
	t.Helper()
	ts := newTestServer(t)
	f := doratest.Seed(t, ts.store, "shop")
	mirror := ts.h.jobs.RepoDir(f.Project)
	if err := os.MkdirAll(filepath.Dir(mirror), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "clone", "--quiet", "--mirror", f.RepoDir, mirror).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	ts.h.now = func() time.Time { return doratest.Now }
	return ts
}

func TestDORAAPIAnswersTheSeededHistory(t *testing.T) {
	ts := doraServer(t)
	tok, _ := ts.token(ts.user("vic", auth.Viewer))

	resp, body := ts.do("GET", "/api/v1/projects/shop/dora?days=7", reqOpts{token: tok})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	var got doraJSON
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Project != "shop" || got.Environment != "production" || got.Days != 7 || got.From != "2026-11-28" || got.To != "2026-12-04" || len(got.Metrics) != 5 {
		t.Fatalf("header %+v", got)
	}
	want := map[string]struct {
		value   float64
		band    string
		samples int
	}{
		"deployment_frequency":    {0.714286, "high", 5},
		"lead_time_for_changes":   {3600, "elite", 5},
		"change_failure_rate":     {0.4, "low", 5},
		"time_to_restore_service": {4200, "high", 2},
		"rework_rate":             {0.6, "", 5},
	}
	for _, m := range got.Metrics {
		w, ok := want[m.Metric]
		band := ""
		if m.Band != nil {
			band = *m.Band
		}
		if !ok || m.Value == nil || *m.Value != w.value || band != w.band || m.Samples != w.samples || len(m.Daily) != 7 {
			t.Errorf("%s: value %v band %q samples %d daily %d; want %+v", m.Metric, deref(m.Value), band, m.Samples, len(m.Daily), w)
		}
	}

	// GitLab's shape: one metric as a list of {date, value}.
	resp, body = ts.do("GET", "/api/v1/projects/shop/dora?days=7&environment=production&metric=lead_time_for_changes", reqOpts{token: tok})
	wantLead := `[{"date":"2026-11-28","value":null},{"date":"2026-11-29","value":null},{"date":"2026-11-30","value":null},` +
		`{"date":"2026-12-01","value":null},{"date":"2026-12-02","value":3600},{"date":"2026-12-03","value":7200},{"date":"2026-12-04","value":null}]`
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != wantLead {
		t.Fatalf("lead time per day: %d\n got %s\nwant %s", resp.StatusCode, body, wantLead)
	}
	resp, body = ts.do("GET", "/api/v1/projects/shop/dora?days=7&metric=change_failure_rate&interval=all", reqOpts{token: tok})
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `[{"date":null,"value":0.4}]` {
		t.Fatalf("interval=all: %d %s", resp.StatusCode, body)
	}
	// Another environment has its own (here: one deploy, no failure).
	resp, body = ts.do("GET", "/api/v1/projects/shop/dora?days=7&environment=dev&metric=deployment_frequency&interval=all", reqOpts{token: tok})
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `[{"date":null,"value":0.142857}]` {
		t.Fatalf("dev: %d %s", resp.StatusCode, body)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDORAAPIRefusesBadQueries(t *testing.T) {
	ts := doraServer(t)
	tok, _ := ts.token(ts.user("vic", auth.Viewer))
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/api/v1/projects/shop/dora?days=14", 422, "days must be 7, 30 or 90"},
		{"/api/v1/projects/shop/dora?days=abc", 422, "days must be 7, 30 or 90"},
		{"/api/v1/projects/shop/dora?days=-7", 422, "days must be 7, 30 or 90"},
		{"/api/v1/projects/shop/dora?environment=nope", 404, `no environment \"nope\" in project shop`},
		{"/api/v1/projects/ghost/dora", 404, "no project"},
		{"/api/v1/projects/shop/dora?metric=mttr", 422, "metric must be one of"},
		{"/api/v1/projects/shop/dora?interval=weekly", 422, "interval must be daily or all"},
	} {
		resp, body := ts.do("GET", tc.path, reqOpts{token: tok})
		if resp.StatusCode != tc.status || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.msg)) || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%s: got %d %s; want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.msg)
		}
	}
	if resp, _ := ts.do("GET", "/api/v1/projects/shop/dora", reqOpts{}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
}

func TestDORAPageShowsTheNumbersAndBands(t *testing.T) {
	ts := doraServer(t)
	sess := doraSession(ts, ts.user("vic", auth.Viewer))
	resp, body := ts.do("GET", "/projects/shop/dora?days=7", reqOpts{session: sess})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d", resp.StatusCode)
	}
	for _, want := range []string{
		`data-testid="dora-value-deployment_frequency">5 per week<`,
		`data-testid="dora-value-lead_time_for_changes">1 h<`,
		`data-testid="dora-value-change_failure_rate">40%<`,
		`data-testid="dora-value-time_to_restore_service">1 h 10 min<`,
		`data-testid="dora-value-rework_rate">60%<`,
		`data-testid="dora-band-change_failure_rate">low<`,
		`data-testid="dora-band-rework_rate">no band<`,
		`id="dora-data"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if resp, body := ts.do("GET", "/projects/shop/dora?days=3", reqOpts{session: sess}); resp.StatusCode != 422 || !strings.Contains(body, "days must be 7, 30 or 90") {
		t.Errorf("days=3: %d", resp.StatusCode)
	}
	if resp, body := ts.do("GET", "/projects/shop/dora?environment=%3Cb%3Enope", reqOpts{session: sess}); resp.StatusCode != 404 ||
		!strings.Contains(body, "no environment &#34;&lt;b&gt;nope&#34; in project shop") {
		t.Errorf("unknown environment: %d, the page must name it, escaped", resp.StatusCode)
	}
	if _, body := ts.do("GET", "/projects/shop", reqOpts{session: sess}); !strings.Contains(body, `href="/projects/shop/dora"`) {
		t.Error("the project page does not link to its DORA metrics")
	}
}

// doraSession is a session still valid at doratest.Now, the portal's
// clock in these tests.
func doraSession(ts *testServer, u *models.User) string {
	ts.t.Helper()
	secret := auth.RandomSecret(32)
	err := ts.store.CreateSession(context.Background(), &models.Session{ID: auth.HashSecret(secret), UserID: u.ID,
		CreatedAt: doratest.Now, LastSeenAt: doratest.Now, ExpiresAt: doratest.Now.Add(24 * time.Hour)})
	if err != nil {
		ts.t.Fatal(err)
	}
	return secret
}
