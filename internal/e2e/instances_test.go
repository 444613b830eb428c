package e2e

import (
	"encoding/json"
	"github.com/slipway-ci/slipway/internal/testkit"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/models"
)

// deployTo deploys build id to env through the API and waits until it is live.
func deployTo(t *testing.T, p *Portal, token, env string, id int64) {
	t.Helper()
	code, body := apiCall(t, http.MethodPost, p.URL+"/api/v1/projects/shop/environments/"+env+"/deploys", token, `{"build_id":`+strconv.FormatInt(id, 10)+`}`)
	if code/100 != 2 {
		t.Fatalf("deploy to %s: %d %s", env, code, body)
	}
	awaitLive(t, p, token, body)
}

// awaitLive waits until the release an API answer (body) describes is
// live, and fails the test if it fails.
func awaitLive(t *testing.T, p *Portal, token, body string) {
	t.Helper()
	var rel struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	must(t, json.Unmarshal([]byte(body), &rel))
	testkit.Eventually(t, 60*time.Second, func() bool {
		_, body = apiCall(t, http.MethodGet, p.URL+"/api/v1/releases/"+strconv.FormatInt(rel.ID, 10), token, "")
		must(t, json.Unmarshal([]byte(body), &rel))
		if rel.Status == models.ReleaseFailed {
			t.Fatalf("release %d failed: %s", rel.ID, rel.Error)
		}
		return rel.Status == models.ReleaseLive
	}, "release %d to go live", rel.ID)
}

// liveRowsJS counts the instances list's rows of the live pool that are
// healthy, and says whether the page is still the one marked before.
const liveRowsJS = `(() => {
	const rows = document.querySelectorAll('[data-testid=instance][data-role=live][data-health=healthy]');
	return rows.length + (window.__instancesMark ? "" : " reloaded");
})()`

// TestBrowserScalesStagingAndWatchesTheInstances scales staging from one
// instance to three with the environment page's form and watches the
// list show three healthy rows without a reload; then scales back to one
// through the API and watches the list follow. The pool runs in the edge
// process, as `slipway serve` runs it by default.
func TestBrowserScalesStagingAndWatchesTheInstances(t *testing.T) {
	key := secretbox.NewKey()
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}})
	id := seedApp(t, p, key, `exec ./bin/app`)
	token := adminToken(t, p)
	deployTo(t, p, token, "staging", id)

	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	must(t, Visit(ctx, p.URL+"/projects/shop/environments/staging"))
	must(t, WaitTestID(ctx, "instances-live"))
	rows := func() string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](liveRowsJS))
		must(t, err)
		return v
	}
	mark := func() {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void]("window.__instancesMark = 1"))
		must(t, err)
	}
	mark()
	if got := rows(); got != "1" {
		t.Fatalf("before scaling: %s healthy live rows, want 1", got)
	}

	must(t, Fill(ctx, `[data-testid=scale-form] input[name=instances]`, "3"))
	must(t, ClickAndLoad(ctx, chromedp.CSS(`[data-testid=scale-form] button`)))
	mark() // the form's answer is a new page; from here on the list must update in place
	var got string
	deadline := time.Now().Add(60 * time.Second)
	for got = rows(); got != "3"; got = rows() {
		if strings.Contains(got, "reloaded") || time.Now().After(deadline) {
			t.Fatalf("the list shows %s, want 3 healthy live rows without a reload", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	summary, err := TextOf(ctx, "instances-summary")
	must(t, err)
	if !strings.Contains(summary, "3 serving of 3 wanted") {
		t.Errorf("summary = %q", summary)
	}
	Screenshot(t, ctx, "staging-three-instances")
	phone(t, ctx)
	Screenshot(t, ctx, "staging-three-instances-phone")

	code, body := apiCall(t, http.MethodPatch, p.URL+"/api/v1/projects/shop/environments/staging", token, `{"instances":1}`)
	if code != http.StatusOK {
		t.Fatalf("PATCH instances: %d %s", code, body)
	}
	deadline = time.Now().Add(60 * time.Second)
	for got = rows(); got != "1"; got = rows() {
		if strings.Contains(got, "reloaded") || time.Now().After(deadline) {
			t.Fatalf("after scaling to 1 through the API the list shows %s, want 1 healthy live row without a reload", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := apiCall(t, http.MethodPatch, p.URL+"/api/v1/projects/shop/environments/staging", token, `{"instances":99}`); code != http.StatusUnprocessableEntity {
		t.Errorf("PATCH 99 instances: %d %s, want 422", code, body)
	}
	if errs := ConsoleErrors(ctx); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
