package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

func TestScaleAnEnvironment(t *testing.T) {
	ts := newTestServer(t)
	f := seedEnvironments(t, ts)
	admin := ts.user("ada", auth.Admin)
	tok, _ := ts.token(admin)
	session := ts.session(admin)
	instances := func() int {
		t.Helper()
		_, envs, err := ts.store.ProjectEnvironments(context.Background(), "shop")
		if err != nil {
			t.Fatal(err)
		}
		return envs[1].Instances // staging
	}
	const api = "/api/v1/projects/shop/environments/staging"

	t.Run("the API refuses a number outside 1 to 16 with 422 and changes nothing", func(t *testing.T) {
		for _, body := range []string{`{"instances":0}`, `{"instances":17}`, `{"instances":-3}`, `{}`} {
			resp, out := ts.do(http.MethodPatch, api, reqOpts{token: tok, body: body, ctype: "application/json"})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(out, "instances") {
				t.Errorf("PATCH %s = %d %s, want 422 naming instances", body, resp.StatusCode, out)
			}
		}
		if resp, out := ts.do(http.MethodPatch, api, reqOpts{token: tok, body: `{"instancez":2}`, ctype: "application/json"}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("unknown field = %d %s, want 400", resp.StatusCode, out)
		}
		if n := instances(); n != 0 {
			t.Errorf("instances = %d after refused requests, want 0", n)
		}
	})

	t.Run("the API sets the instances and answers the environment", func(t *testing.T) {
		resp, out := ts.do(http.MethodPatch, api, reqOpts{token: tok, body: `{"instances":3}`, ctype: "application/json"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH = %d %s", resp.StatusCode, out)
		}
		var got struct {
			Name      string `json:"name"`
			Instances int    `json:"instances"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != "staging" || got.Instances != 3 {
			t.Fatalf("response %s (%v)", out, err)
		}
		if n := instances(); n != 3 {
			t.Errorf("stored instances = %d, want 3", n)
		}
	})

	t.Run("the answer shows what is live, like the environments list", func(t *testing.T) {
		resp, out := ts.do(http.MethodPatch, "/api/v1/projects/shop/environments/dev", reqOpts{token: tok, body: `{"instances":2}`, ctype: "application/json"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH = %d %s", resp.StatusCode, out)
		}
		var got struct {
			LiveRelease *struct {
				ID int64 `json:"id"`
			} `json:"live_release"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.LiveRelease == nil || got.LiveRelease.ID != f.r2.ID {
			t.Fatalf("response %s (%v), want live_release %d", out, err, f.r2.ID)
		}
	})

	t.Run("the page's scale form sets them, and refuses what is not a number", func(t *testing.T) {
		path := "/projects/shop/environments/staging/scale"
		resp, _ := ts.do(http.MethodPost, path, reqOpts{session: session, csrf: true, form: url.Values{"instances": {"five"}}})
		if resp.StatusCode != http.StatusSeeOther || instances() != 3 {
			t.Fatalf("bad form = %d, instances %d; want a redirect and no change", resp.StatusCode, instances())
		}
		resp, _ = ts.do(http.MethodPost, path, reqOpts{session: session, csrf: true, form: url.Values{"instances": {"2"}}})
		if resp.StatusCode != http.StatusSeeOther || instances() != 2 {
			t.Fatalf("form = %d, instances %d; want 2", resp.StatusCode, instances())
		}
		resp, _ = ts.do(http.MethodPost, path, reqOpts{session: session, form: url.Values{"instances": {"4"}}})
		if resp.StatusCode != http.StatusForbidden || instances() != 2 {
			t.Errorf("without the CSRF token = %d, instances %d; want 403 and no change", resp.StatusCode, instances())
		}
	})

	t.Run("changes are audited", func(t *testing.T) {
		events, err := ts.store.AuditEvents(context.Background(), models.AuditFilter{Action: models.AuditEnvUpdate, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var all string
		for _, e := range events {
			all += e.Details
		}
		for _, want := range []string{`"instances":[0,3]`, `"instances":[3,2]`} {
			if !strings.Contains(all, want) {
				t.Errorf("audit lacks %s: %s", want, all)
			}
		}
	})

	t.Run("the instances list polls itself and the page offers the scale form to admins only", func(t *testing.T) {
		resp, body := ts.do(http.MethodGet, "/projects/shop/environments/staging/instances", reqOpts{session: session})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `hx-trigger="every 1s"`) || !strings.Contains(body, `data-testid="instances-live"`) {
			t.Fatalf("list = %d %s", resp.StatusCode, body)
		}
		if strings.Contains(body, "<html") || strings.Contains(body, "scale-form") {
			t.Error("the polled list is a fragment without the form (a poll must not reset what is typed)")
		}
		_, body = ts.do(http.MethodGet, "/projects/shop/environments/staging", reqOpts{session: session})
		if !strings.Contains(body, `data-testid="scale-form"`) || !strings.Contains(body, `data-testid="instances-live"`) {
			t.Error("the environment page lacks the live list or the scale form")
		}
		viewer := ts.session(ts.user("vic", auth.Viewer))
		_, body = ts.do(http.MethodGet, "/projects/shop/environments/staging", reqOpts{session: viewer})
		if strings.Contains(body, "scale-form") {
			t.Error("a viewer is offered the scale form")
		}
	})

	t.Run("the settings form takes instances, empty meaning the pipeline's", func(t *testing.T) {
		path := "/projects/shop/environments/staging/settings"
		if _, body := ts.do(http.MethodGet, path, reqOpts{session: session}); !strings.Contains(body, `id="f-instances"`) || !strings.Contains(body, `value="2"`) {
			t.Error("the settings page lacks the instances field with the current value")
		}
		form := url.Values{"name": {"staging"}, "target": {"process"}, "instances": {"20"}}
		ts.do(http.MethodPost, path, reqOpts{session: session, csrf: true, form: form})
		if n := instances(); n != 2 {
			t.Errorf("instances = %d after 20 was refused, want 2", n)
		}
		form.Set("instances", "")
		if resp, _ := ts.do(http.MethodPost, path, reqOpts{session: session, csrf: true, form: form}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("settings = %d", resp.StatusCode)
		}
		if n := instances(); n != 0 {
			t.Errorf("instances = %d after an empty field, want 0", n)
		}
	})
}
