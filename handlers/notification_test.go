package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/internal/notify/notifytest"
	"github.com/slipway-ci/slipway/models"
)

func notifyProjectID(t *testing.T, ts *testServer) int64 {
	t.Helper()
	p, err := ts.store.ProjectBySlug(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func notifyProject(t *testing.T, ts *testServer) *models.Project {
	t.Helper()
	p := &models.Project{Slug: "shop", Name: "Shop", RepoURL: "/r", DefaultBranch: "main", NextBuildNumber: 1}
	p.WebhookSecretSealed = ts.h.secrets.Seal([]byte("forge-secret"), p.WebhookSecretAD())
	if err := ts.store.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitDeliveries polls the API until the endpoint's newest delivery is done.
func waitDelivered(t *testing.T, ts *testServer, tok string, id int64) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := ts.do(http.MethodGet, "/api/v1/projects/shop/notifications/"+strconv.FormatInt(id, 10)+"/deliveries", reqOpts{token: tok})
		var ds []map[string]any
		_ = json.Unmarshal([]byte(body), &ds)
		if len(ds) > 0 && ds[0]["status"] != "pending" {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not done: %s", body)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func TestNotificationAPISignsTestsAndRotates(t *testing.T) {
	ts := newTestServerWith(t, true)
	notifyProject(t, ts)
	admin, _ := ts.token(ts.user("ada", auth.Admin))
	lead, _ := ts.token(ts.user("lee", auth.Lead))
	rc := notifytest.NewReceiver(t, nil)

	resp, body := ts.do(http.MethodPost, "/api/v1/projects/shop/notifications", reqOpts{token: admin, ctype: "application/json",
		body: `{"name":"bot","kind":"webhook","url":"` + rc.URL + `/hook?token=s3cr3t","events":["build.failed","deploy.live"]}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created struct {
		ID     int64
		Secret string
		Target string
	}
	_ = json.Unmarshal([]byte(body), &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || strings.Contains(created.Target, "s3cr3t") {
		t.Fatalf("created %s", body)
	}
	id := strconv.FormatInt(created.ID, 10)

	t.Run("the secret and the URL's token never come back", func(t *testing.T) {
		for _, path := range []string{"/api/v1/projects/shop/notifications", "/api/v1/projects/shop/notifications/" + id} {
			_, body := ts.do(http.MethodGet, path, reqOpts{token: admin})
			if strings.Contains(body, created.Secret) || strings.Contains(body, "s3cr3t") || strings.Contains(body, `"secret"`) {
				t.Fatalf("%s leaks: %s", path, body)
			}
		}
	})

	t.Run("send test reaches the receiver signed", func(t *testing.T) {
		resp, body := ts.do(http.MethodPost, "/api/v1/projects/shop/notifications/"+id+"/test", reqOpts{token: admin})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("test: %d %s", resp.StatusCode, body)
		}
		req := rc.Wait(t, 1, 20*time.Second)[0]
		ts64, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
		if !notify.Verify(created.Secret, req.Header.Get("webhook-id"), ts64, req.Body, req.Header.Get("webhook-signature")) {
			t.Fatal("the test message does not verify with the secret shown at creation")
		}
		if d := waitDelivered(t, ts, admin, created.ID); d["status"] != "succeeded" || d["event"] != "test" || d["response_code"] != float64(200) {
			t.Fatalf("delivery %v", d)
		}
	})

	t.Run("a rotation signs with both secrets", func(t *testing.T) {
		resp, body := ts.do(http.MethodPost, "/api/v1/projects/shop/notifications/"+id+"/rotate-secret", reqOpts{token: lead})
		var rot struct {
			Secret string
			Until  *time.Time `json:"previous_secret_valid_until"`
		}
		_ = json.Unmarshal([]byte(body), &rot)
		if resp.StatusCode != 200 || !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == created.Secret || rot.Until == nil || time.Until(*rot.Until) < 23*time.Hour {
			t.Fatalf("rotate: %d %s", resp.StatusCode, body)
		}
		ts.do(http.MethodPost, "/api/v1/projects/shop/notifications/"+id+"/test", reqOpts{token: admin})
		req := rc.Wait(t, 2, 20*time.Second)[1]
		ts64, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
		for _, s := range []string{created.Secret, rot.Secret} {
			if !notify.Verify(s, req.Header.Get("webhook-id"), ts64, req.Body, req.Header.Get("webhook-signature")) {
				t.Errorf("does not verify with %s…", s[:12])
			}
		}
	})

	t.Run("redeliver keeps the message id", func(t *testing.T) {
		d := waitDelivered(t, ts, admin, created.ID)
		did := strconv.FormatInt(int64(d["id"].(float64)), 10)
		resp, body := ts.do(http.MethodPost, "/api/v1/projects/shop/notifications/"+id+"/deliveries/"+did+"/redeliver", reqOpts{token: admin})
		if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, d["message_id"].(string)) {
			t.Fatalf("redeliver: %d %s", resp.StatusCode, body)
		}
		reqs := rc.Wait(t, 3, 20*time.Second)
		if reqs[2].Header.Get("webhook-id") != reqs[1].Header.Get("webhook-id") {
			t.Fatal("redelivery changed the webhook-id")
		}
		resp, _ = ts.do(http.MethodPost, "/api/v1/projects/shop/notifications/"+id+"/deliveries/999999/redeliver", reqOpts{token: admin})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown delivery: %d", resp.StatusCode)
		}
	})

	t.Run("bad input is a 422 naming the problem", func(t *testing.T) {
		cases := map[string]string{
			`{"name":"x","kind":"webhook","url":"` + rc.URL + `","events":["build.failed"]}`:         "loopback",
			`{"name":"x","kind":"webhook","url":"ftp://example.com","events":["build.failed"]}`:      "https://",
			`{"name":"x","kind":"webhook","url":"https://example.com","events":[]}`:                  "at least one event",
			`{"name":"x","kind":"webhook","url":"https://example.com","events":["build.exploded"]}`:  "unknown event",
			`{"name":"x","kind":"email","addresses":"not-an-address","events":["build.failed"]}`:     "not an email address",
			`{"name":"","kind":"slack","url":"https://hooks.slack.com/x","events":["build.failed"]}`: "name",
			`{"name":"x","kind":"pager","events":["build.failed"]}`:                                  "kind must be",
		}
		for in, want := range cases {
			resp, body := ts.do(http.MethodPost, "/api/v1/projects/shop/notifications", reqOpts{token: lead, ctype: "application/json", body: in})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
				t.Errorf("%s: %d %s, want 422 with %q", in, resp.StatusCode, body, want)
			}
		}
	})

	t.Run("update, disable and delete", func(t *testing.T) {
		path := "/api/v1/projects/shop/notifications/" + id
		resp, body := ts.do(http.MethodPut, path, reqOpts{token: lead, ctype: "application/json", body: `{"events":["nope"]}`})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "unknown event") {
			t.Fatalf("bad events: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do(http.MethodPut, path, reqOpts{token: lead, ctype: "application/json", body: `{"enabled":false,"events":["rollback"]}`})
		if resp.StatusCode != 200 || !strings.Contains(body, `"enabled":false`) || !strings.Contains(body, `"events":["rollback"]`) || !strings.Contains(body, `"name":"bot"`) {
			t.Fatalf("update: %d %s", resp.StatusCode, body)
		}
		d := waitDelivered(t, ts, admin, created.ID)
		resp, _ = ts.do(http.MethodPost, path+"/deliveries/"+strconv.FormatInt(int64(d["id"].(float64)), 10)+"/redeliver", reqOpts{token: admin})
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("redeliver to a disabled endpoint: %d", resp.StatusCode)
		}
		if resp, _ := ts.do(http.MethodDelete, path, reqOpts{token: lead}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d", resp.StatusCode)
		}
		if resp, _ := ts.do(http.MethodGet, path, reqOpts{token: lead}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("after delete: %d", resp.StatusCode)
		}
		es, err := ts.store.AuditEvents(context.Background(), models.AuditFilter{Action: "notification."})
		if err != nil || len(es) < 4 {
			t.Fatalf("audit: %d events, %v", len(es), err)
		}
		for _, e := range es {
			if strings.Contains(e.Details, "s3cr3t") || strings.Contains(e.Details, "whsec_") {
				t.Fatalf("audit details leak: %s", e.Details)
			}
		}
	})

	t.Run("a Slack URL shows only its host", func(t *testing.T) {
		resp, body := ts.do(http.MethodPost, "/api/v1/projects/shop/notifications", reqOpts{token: lead, ctype: "application/json",
			body: `{"name":"chat","kind":"slack","url":"https://hooks.slack.com/services/T0/B0/XXXXSECRET","events":["deploy.live"]}`})
		if resp.StatusCode != http.StatusCreated || strings.Contains(body, "XXXXSECRET") || strings.Contains(body, `"secret"`) || !strings.Contains(body, "https://hooks.slack.com/…") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

func TestNotificationPagesShowTheSecretOnce(t *testing.T) {
	ts := newTestServerWith(t, false)
	notifyProject(t, ts)
	sess := ts.session(ts.user("lee", auth.Lead))
	form := url.Values{"name": {"bot"}, "kind": {"webhook"}, "url": {"https://hooks.example.com/x?k=tok"}, "events": {"build.failed", "rollback"}}
	resp, _ := ts.do(http.MethodPost, "/projects/shop/notifications", reqOpts{session: sess, csrf: true, form: form})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	var secret string
	for _, ck := range resp.Cookies() {
		if ck.Name == newSecretCookie {
			secret = ck.Value
			if ck.Path != loc || !ck.HttpOnly {
				t.Fatalf("secret cookie %+v", ck)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+loc, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess})
	req.AddCookie(&http.Cookie{Name: newSecretCookie, Value: secret})
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := new(strings.Builder)
	_, _ = io_copy(b, r2)
	r2.Body.Close()
	if !strings.Contains(b.String(), secret) || !strings.Contains(b.String(), "will not be shown again") {
		t.Fatal("the endpoint page does not show the new secret")
	}
	cleared := false
	for _, ck := range r2.Cookies() {
		cleared = cleared || (ck.Name == newSecretCookie && ck.MaxAge < 0)
	}
	if !cleared {
		t.Fatal("the page did not clear the secret cookie")
	}
	_, body := ts.do(http.MethodGet, loc, reqOpts{session: sess})
	if strings.Contains(body, secret) || strings.Contains(body, "k=tok") {
		t.Fatal("a later view shows the secret or the URL's query")
	}
	resp, _ = ts.do(http.MethodPost, loc, reqOpts{session: sess, csrf: true, form: url.Values{"name": {"renamed"}, "events": {"deploy.live"}}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	id, _ := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	e, err := ts.store.NotificationEndpoint(context.Background(), notifyProjectID(t, ts), id)
	if err != nil || e.Name != "renamed" || e.Enabled || e.Events != "deploy.live" {
		t.Fatalf("after update %+v %v", e, err)
	}
	resp, _ = ts.do(http.MethodPost, loc+"/delete", reqOpts{session: sess, csrf: true, form: url.Values{}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/shop/notifications" {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := ts.do(http.MethodGet, loc, reqOpts{session: sess}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted endpoint page: %d", resp.StatusCode)
	}
	if resp, _ := ts.do(http.MethodGet, "/projects/shop/notifications", reqOpts{session: ts.session(ts.user("dev", auth.Developer))}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a developer opens the page: %d", resp.StatusCode)
	}
	resp, body = ts.do(http.MethodPost, "/projects/shop/notifications", reqOpts{session: sess, csrf: true,
		form: url.Values{"name": {"bad"}, "kind": {"webhook"}, "url": {"https://hooks.example.com/x"}}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "pick at least one event") {
		t.Fatalf("no events: %d", resp.StatusCode)
	}
}
