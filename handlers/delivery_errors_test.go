package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// TestDeliveryErrorsHaveOneShape: every refusal of a delivery action
// reaches the API as {"error": …} with the status of its kind, and a
// validation error names its field.
func TestDeliveryErrorsHaveOneShape(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	api := func(who, path, body string) (int, map[string]any) {
		t.Helper()
		resp, raw := f.ts.do(http.MethodPost, path, reqOpts{token: f.tokens[who], body: body, ctype: "application/json"})
		var got map[string]any
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatalf("%s: not JSON: %s", path, raw)
		}
		return resp.StatusCode, got
	}
	deploys := "/api/v1/projects/shop/environments/dev/deploys"
	cases := []struct {
		name, who, path, body string
		status                int
		field                 string
	}{
		{"a malformed digest", "dora", deploys, `{"artifact_sha256":"xyz"}`, http.StatusBadRequest, "artifact_sha256"},
		{"nothing named", "dora", deploys, `{}`, http.StatusBadRequest, "build_id"},
		{"no reason into production", "lena", "/api/v1/projects/shop/environments/production/deploys", `{"build_id":` + itoa(f.build.ID) + `}`, http.StatusBadRequest, "reason"},
		{"an unknown build", "dora", deploys, `{"build_id":99999}`, http.StatusNotFound, ""},
		{"a developer into production", "dora", "/api/v1/projects/shop/environments/production/deploys", `{"build_id":1,"reason":"x"}`, http.StatusForbidden, ""},
		{"promoting past the last environment", "dora", "/api/v1/projects/shop/environments/production/promote", ``, http.StatusConflict, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, got := api(c.who, c.path, c.body)
			msg, _ := got["error"].(string)
			if code != c.status || msg == "" {
				t.Fatalf("%d %v, want %d with an error message", code, got, c.status)
			}
			if field, _ := got["field"].(string); field != c.field {
				t.Fatalf("field = %q, want %q (%v)", field, c.field, got)
			}
		})
	}

	_, _, id := f.promote(t, viaAPI, "dora", "staging")
	code, body := f.decide(t, viaAPI, "lena", id, "reject", " ")
	var got map[string]any
	_ = json.Unmarshal([]byte(body), &got)
	if code != http.StatusBadRequest || got["field"] != "comment" {
		t.Fatalf("a rejection without a comment: %d %s", code, body)
	}
	// The form comes back on the promotion page with the message.
	code, body = f.decide(t, viaUI, "lena", id, "reject", " ")
	wantStatus(t, code, body, http.StatusUnprocessableEntity, "A rejection needs a comment saying why.")
	if p := f.promotion(t, id); p.Status != models.PromotionPending {
		t.Fatalf("a refused rejection changed the promotion: %s", p.Status)
	}
}

// TestConfirmDeployRefusesDuringAFreeze: the confirmation of a direct
// deploy into protected production is not offered to a lead while a
// freeze holds it (the deploy it leads to would be refused).
func TestConfirmDeployRefusesDuringAFreeze(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	f.setPolicy(t, "production", func(e *models.Environment) {
		e.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: time.Now().Add(-time.Hour).UTC(), End: time.Now().Add(time.Hour).UTC(), Reason: "launch day"}})
	})
	form := url.Values{"build_id": {itoa(f.build.ID)}}
	resp, body := f.ts.do(http.MethodPost, "/projects/shop/environments/production/deploys", reqOpts{session: f.session["lena"], csrf: true, form: form})
	wantStatus(t, resp.StatusCode, body, http.StatusForbidden, "launch day")
	// An admin, who may override the freeze, gets the confirmation.
	resp, body = f.ts.do(http.MethodPost, "/projects/shop/environments/production/deploys", reqOpts{session: f.session["root"], csrf: true, form: form})
	wantStatus(t, resp.StatusCode, body, http.StatusOK, "Deploy to production?")
}
