package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// events returns the whole trail, oldest first.
func (ts *testServer) events() []models.AuditEvent {
	ts.t.Helper()
	es, err := ts.store.AuditEvents(context.Background(), models.AuditFilter{Limit: models.MaxAuditLimit})
	if err != nil {
		ts.t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

func TestAccountChangesLeaveAuditEventsByTheirActor(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.user("root", auth.Admin)
	dev := ts.user("dev", auth.Developer)
	viewer := ts.user("vic", auth.Viewer)
	sess, viewerSess := ts.session(admin), ts.session(viewer)
	tok, _ := ts.token(admin)

	steps := []struct {
		name   string
		method string
		path   string
		o      reqOpts
		status int
	}{
		{"an admin creates a user in the form", http.MethodPost, "/admin/users", reqOpts{session: sess, csrf: true,
			form: url.Values{"username": {"eve"}, "role": {"qa"}, "password": {"correct-horse-battery"}}}, http.StatusSeeOther},
		{"an admin creates a user over the API", http.MethodPost, "/api/v1/users", reqOpts{token: tok, ctype: "application/json",
			body: `{"username":"fay","role":"viewer"}`}, http.StatusCreated},
		{"an admin changes a role", http.MethodPost, "/admin/users/" + idString(dev.ID) + "/role", reqOpts{session: sess, csrf: true,
			form: url.Values{"role": {"lead"}}}, http.StatusSeeOther},
		{"an admin disables a user", http.MethodPost, "/admin/users/" + idString(dev.ID) + "/disabled", reqOpts{session: sess, csrf: true,
			form: url.Values{"disabled": {"true"}}}, http.StatusSeeOther},
		{"an admin enables a user", http.MethodPost, "/admin/users/" + idString(dev.ID) + "/disabled", reqOpts{session: sess, csrf: true,
			form: url.Values{"disabled": {"false"}}}, http.StatusSeeOther},
		{"a user creates a token", http.MethodPost, "/profile/tokens", reqOpts{session: sess, csrf: true,
			form: url.Values{"name": {"deploy-bot"}}}, http.StatusSeeOther},
	}
	for _, s := range steps {
		resp, body := ts.do(s.method, s.path, s.o)
		if resp.StatusCode != s.status {
			t.Fatalf("%s: got %d, want %d: %s", s.name, resp.StatusCode, s.status, body)
		}
	}
	ts2, err := ts.store.APITokens(context.Background(), admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	newest := ts2[0]
	if resp, _ := ts.do(http.MethodPost, "/profile/tokens/"+idString(newest.ID)+"/revoke", reqOpts{session: sess, csrf: true, form: url.Values{}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	// Refused changes leave no trace: a viewer cannot manage users, and a
	// no-op role change is not an event.
	if resp, _ := ts.do(http.MethodPost, "/admin/users", reqOpts{session: viewerSess, csrf: true, form: url.Values{"username": {"x"}, "role": {"qa"}}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer creating a user: %d", resp.StatusCode)
	}
	ts.do(http.MethodPost, "/admin/users/"+idString(dev.ID)+"/role", reqOpts{session: sess, csrf: true, form: url.Values{"role": {"lead"}}})

	want := []struct{ action, object, detail string }{
		{models.AuditUserCreate, "user", `"username":"eve"`},
		{models.AuditUserCreate, "user", `"via":"api"`},
		{models.AuditUserRole, "user " + idString(dev.ID), `"from":"developer"`},
		{models.AuditUserDisable, "user " + idString(dev.ID), `"username":"dev"`},
		{models.AuditUserEnable, "user " + idString(dev.ID), `"username":"dev"`},
		{models.AuditTokenCreate, "token " + idString(newest.ID), `"name":"deploy-bot"`},
		{models.AuditTokenRevoke, "token " + idString(newest.ID), `"name":"deploy-bot"`},
	}
	es := ts.events()
	if len(es) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(es), len(want), es)
	}
	for i, w := range want {
		e := es[i]
		t.Run(fmt.Sprintf("event %d is %s by the admin", i+1, w.action), func(t *testing.T) {
			if e.Action != w.action || !strings.HasPrefix(e.ObjectType+" "+e.ObjectID, w.object) || !strings.Contains(e.Details, w.detail) {
				t.Fatalf("got %s on %s %s with %s, want %s on %s with %s", e.Action, e.ObjectType, e.ObjectID, e.Details, w.action, w.object, w.detail)
			}
			if e.ActorID == nil || *e.ActorID != admin.ID || e.ActorName != "root" {
				t.Fatalf("actor: %v %q", e.ActorID, e.ActorName)
			}
			for _, secret := range []string{"correct-horse-battery", auth.TokenPrefix, "$2"} {
				if strings.Contains(e.Details, secret) {
					t.Fatalf("details carry a secret: %s", e.Details)
				}
			}
		})
	}
	if r, err := ts.store.VerifyAudit(context.Background()); err != nil || !r.OK {
		t.Fatalf("verify: %+v %v", r, err)
	}
}

// seedAudit appends events at fixed times for the page tests.
func seedAudit(t *testing.T, s *models.Store, es ...models.AuditEvent) {
	t.Helper()
	for i := range es {
		if es[i].Details == "" {
			es[i].Details = "{}"
		}
		if err := s.AppendAudit(context.Background(), &es[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditPageFiltersPagesAndEscapes(t *testing.T) {
	ts := newTestServer(t)
	lead := ts.user("lena", auth.Lead)
	sess := ts.session(lead)
	day := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	seedAudit(t, ts.store,
		models.AuditEvent{ActorName: "ada", Action: models.AuditDeploy, ObjectType: "release", ObjectID: "11", At: day,
			Details: `{"note":"<script>alert(1)</script>"}`},
		models.AuditEvent{ActorName: "bob", Action: models.AuditApprove, ObjectType: "promotion", ObjectID: "4", At: day.Add(24 * time.Hour)},
		models.AuditEvent{ActorName: "ada", Action: models.AuditRollback, ObjectType: "release", ObjectID: "12", At: day.Add(48 * time.Hour)},
	)
	page := func(q string) (int, string) {
		resp, body := ts.do(http.MethodGet, "/audit"+q, reqOpts{session: sess})
		return resp.StatusCode, body
	}
	cases := []struct {
		name    string
		query   string
		want    []int
		notWant []int
	}{
		{"without filters every event shows", "", []int{1, 2, 3}, nil},
		{"the actor filter keeps that actor's events", "?actor=ada", []int{1, 3}, []int{2}},
		{"the action filter keeps that action", "?action=approval.approve", []int{2}, []int{1, 3}},
		{"the object filter keeps that object", "?object_type=release&object_id=12", []int{3}, []int{1, 2}},
		{"a date range includes both end days", "?since=2026-03-11&until=2026-03-12", []int{2, 3}, []int{1}},
		{"a one-day range keeps that day", "?since=2026-03-10&until=2026-03-10", []int{1}, []int{2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := page(c.query)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			for _, seq := range c.want {
				if !strings.Contains(body, fmt.Sprintf(`data-testid="audit-%d"`, seq)) {
					t.Errorf("event %d missing", seq)
				}
			}
			for _, seq := range c.notWant {
				if strings.Contains(body, fmt.Sprintf(`data-testid="audit-%d"`, seq)) {
					t.Errorf("event %d should be filtered out", seq)
				}
			}
		})
	}

	t.Run("details are escaped", func(t *testing.T) {
		_, body := page("")
		if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
			t.Fatal("a detail value reached the page unescaped")
		}
	})
	t.Run("filters that match nothing say so and offer to clear them", func(t *testing.T) {
		_, body := page("?actor=nobody")
		if !strings.Contains(body, "No events match these filters") || !strings.Contains(body, `data-testid="audit-clear"`) {
			t.Fatal("no empty state for an empty filter result")
		}
	})
	t.Run("a bad date is a 400 that names the problem", func(t *testing.T) {
		status, body := page("?since=yesterday")
		if status != http.StatusBadRequest || !strings.Contains(body, "since must be a date") {
			t.Fatalf("got %d", status)
		}
	})
	t.Run("a bad page cursor is a 400", func(t *testing.T) {
		if status, _ := page("?before=-1"); status != http.StatusBadRequest {
			t.Fatalf("got %d", status)
		}
	})
	t.Run("the CSV link carries the filters", func(t *testing.T) {
		_, body := page("?actor=ada&action=deploy")
		if !strings.Contains(body, `href="/audit.csv?action=deploy&amp;actor=ada"`) {
			t.Fatal("CSV link lost the filters")
		}
	})

	t.Run("pages go from newest to oldest", func(t *testing.T) {
		var more []models.AuditEvent
		for i := range models.DefaultAuditLimit + 5 {
			more = append(more, models.AuditEvent{ActorName: "bulk", Action: models.AuditUserRole, ObjectType: "user", ObjectID: strconv.Itoa(i)})
		}
		seedAudit(t, ts.store, more...)
		total := 3 + models.DefaultAuditLimit + 5
		_, body := page("")
		if !strings.Contains(body, fmt.Sprintf(`data-testid="audit-%d"`, total)) {
			t.Fatal("the newest event is not on the first page")
		}
		if strings.Contains(body, `data-testid="audit-5"`) || strings.Contains(body, `data-testid="audit-newest"`) {
			t.Fatal("the first page shows old events or a link to itself")
		}
		i := strings.Index(body, `href="/audit?before=`)
		if i < 0 {
			t.Fatal("no link to older events")
		}
		href := body[i+len(`href="`):]
		href = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
		_, older := page(strings.TrimPrefix(href, "/audit"))
		for seq := 1; seq <= total-models.DefaultAuditLimit; seq++ {
			if !strings.Contains(older, fmt.Sprintf(`data-testid="audit-%d"`, seq)) {
				t.Fatalf("event %d missing from the second page", seq)
			}
		}
		if strings.Contains(older, `data-testid="audit-older"`) || !strings.Contains(older, `data-testid="audit-newest"`) {
			t.Fatal("the last page must link back to the newest and not further")
		}
	})
}

func TestAuditCSVExport(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.user("root", auth.Admin)
	sess := ts.session(admin)
	seedAudit(t, ts.store,
		models.AuditEvent{ActorName: "ada", Action: models.AuditProjectCreate, ObjectType: "project", ObjectID: "=cmd|' /C calc'!A0",
			Details: `{"name":"shop, \"main\"","note":"line one\nline two"}`},
		models.AuditEvent{ActorName: "bob", Action: models.AuditDeploy, ObjectType: "release", ObjectID: "@SUM(1+1)"},
	)
	resp, body := ts.do(http.MethodGet, "/audit.csv?actor=ada", reqOpts{session: sess})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not valid CSV: %v\n%s", err, body)
	}
	if len(rows) != 2 {
		t.Fatalf("the actor filter must apply to the export: %d rows", len(rows))
	}
	if got := rows[1][6]; got != "'=cmd|' /C calc'!A0" {
		t.Fatalf("formula cell exported as %q", got)
	}
	if got := rows[1][7]; got != `{"name":"shop, \"main\"","note":"line one\nline two"}` {
		t.Fatalf("details cell exported as %q", got)
	}
	_, body = ts.do(http.MethodGet, "/audit.csv?action=deploy", reqOpts{session: sess})
	if rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll(); len(rows) != 2 || rows[1][6] != "'@SUM(1+1)" {
		t.Fatalf("at-sign cell: %v", rows)
	}
	if resp, _ := ts.do(http.MethodGet, "/audit.csv?until=soon", reqOpts{session: sess}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad filter on export: %d", resp.StatusCode)
	}
}

func TestAuditAPI(t *testing.T) {
	ts := newTestServer(t)
	lead := ts.user("lena", auth.Lead)
	tok, _ := ts.token(lead)
	seedAudit(t, ts.store,
		models.AuditEvent{ActorName: "ada", Action: models.AuditDeploy, ObjectType: "release", ObjectID: "1", Details: `{"env":"dev"}`},
		models.AuditEvent{ActorName: "ada", Action: models.AuditDeploy, ObjectType: "release", ObjectID: "2"},
		models.AuditEvent{ActorName: "bob", Action: models.AuditReject, ObjectType: "promotion", ObjectID: "3"},
	)
	resp, body := ts.do(http.MethodGet, "/api/v1/audit?action=deploy&limit=1", reqOpts{token: tok})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got auditListResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 1 || got.Events[0].Seq != 2 || got.NextBefore != 2 {
		t.Fatalf("first page: %+v", got)
	}
	_, body = ts.do(http.MethodGet, "/api/v1/audit?action=deploy&limit=1&before=2", reqOpts{token: tok})
	got = auditListResponse{}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 1 || got.Events[0].Seq != 1 || got.NextBefore != 0 || string(got.Events[0].Details) != `{"env":"dev"}` || got.Events[0].PrevHash != strings.Repeat("0", 64) {
		t.Fatalf("second page: %+v", got)
	}
	resp, body = ts.do(http.MethodGet, "/api/v1/audit?limit=5000", reqOpts{token: tok})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "limit must be") {
		t.Fatalf("too large a limit: %d %s", resp.StatusCode, body)
	}
}
