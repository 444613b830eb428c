package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// deployLog is what the release log tests print: a deploy's lines, one
// coloured and hostile, one from the app.
var deployLog = []string{
	"deploying release to dev",
	"\x1b[31m<b>health</b> check failed\x1b[0m",
	"[app] listening on 127.0.0.1:4000",
}

// addRelease adds a release of the fixture's build to dev with status.
func addRelease(t *testing.T, ts *testServer, f *envFixture, status string) *models.Release {
	t.Helper()
	now := time.Now().UTC()
	r := &models.Release{EnvironmentID: f.envs["dev"].ID, BuildID: &f.build.ID, ArtifactSHA256: *f.build.ArtifactSHA256,
		ConfigVersion: 1, Status: status, Reason: models.ReasonDeploy, StartedAt: &now}
	if models.ReleaseFinished(status) {
		r.FinishedAt = &now
	}
	if err := ts.store.CreateRelease(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// pageHas checks that body contains every string of want and none of
// notWant.
func pageHas(t *testing.T, body string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, w := range notWant {
		if strings.Contains(body, w) {
			t.Errorf("page must not contain %q", w)
		}
	}
}

// dialLog opens a log socket at path with the given headers.
func (ls *logServer) dialLog(t *testing.T, path string, h http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(ls.wsURL(path), h)
	if err != nil {
		t.Fatalf("dial %s: %v (%s)", path, err, respStatus(resp))
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestReleaseLogRoutes(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	f := seedEnvironments(t, ls.testServer)
	writeLines(t, ls.logs, f.r2.LogStream(), models.ReleaseLive, deployLog...)
	id := itoa(f.r2.ID)
	want := strings.Join(deployLog, "\n") + "\n"

	t.Run("the API log is the stored lines as plain text, line 1 first", func(t *testing.T) {
		resp, body := ls.do(http.MethodGet, "/api/v1/releases/"+id+"/log", reqOpts{token: ls.token})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if body != want {
			t.Fatalf("log is %q, want %q", body, want)
		}
		if got := resp.Header.Get("X-Slipway-Release-Status"); got != models.ReleaseLive {
			t.Errorf("status header %q, want live", got)
		}
		if got := resp.Header.Get("Content-Disposition"); got != "" {
			t.Errorf("the API log must be inline, got Content-Disposition %q", got)
		}
	})
	t.Run("the API release names its log", func(t *testing.T) {
		_, body := ls.do(http.MethodGet, "/api/v1/releases/"+id, reqOpts{token: ls.token})
		if !strings.Contains(body, `"log_url":"/api/v1/releases/`+id+`/log"`) {
			t.Fatalf("release JSON lacks its log URL: %s", body)
		}
	})
	t.Run("the raw download is the same text as a file", func(t *testing.T) {
		resp, body := ls.do(http.MethodGet, "/releases/"+id+"/log.txt", reqOpts{session: ls.session})
		if resp.StatusCode != http.StatusOK || body != want {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Disposition"); got != "attachment; filename=shop-dev-release-"+id+".log" {
			t.Errorf("Content-Disposition %q", got)
		}
	})
	t.Run("pages of lines come rendered and escaped", func(t *testing.T) {
		resp, body := ls.do(http.MethodGet, "/releases/"+id+"/log/lines?from=2&limit=1", reqOpts{session: ls.session})
		var p linesPage
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if p.From != 2 || len(p.Lines) != 1 || p.Total != 3 || !p.Closed || p.Status != models.ReleaseLive {
			t.Fatalf("page %+v", p)
		}
		if !strings.Contains(p.Lines[0], "&lt;b&gt;health") || !strings.Contains(p.Lines[0], "term-fg31") || strings.Contains(p.Lines[0], "<b>") {
			t.Fatalf("line 2 is not coloured and escaped: %s", p.Lines[0])
		}
	})
	t.Run("search finds the app's line", func(t *testing.T) {
		resp, body := ls.do(http.MethodGet, "/releases/"+id+"/log/search?q=LISTENING", reqOpts{session: ls.session})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"matches":[3]`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("the polled log fragment is gone", func(t *testing.T) {
		if resp, _ := ls.do(http.MethodGet, "/releases/"+id+"/log", reqOpts{session: ls.session}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET /releases/%s/log is %d, want 404", id, resp.StatusCode)
		}
	})

	ghost := ls.testServer.session(ls.user("nobody", "ghost"))
	for _, tc := range []struct {
		name, path string
		o          reqOpts
		status     int
	}{
		{"an unknown release's page is not found", "/releases/999999", reqOpts{session: ls.session}, http.StatusNotFound},
		{"an unknown release's API log is not found", "/api/v1/releases/999999/log", reqOpts{token: ls.token}, http.StatusNotFound},
		{"an unknown release's download is not found", "/releases/999999/log.txt", reqOpts{session: ls.session}, http.StatusNotFound},
		{"an unknown release's lines are not found", "/releases/999999/log/lines", reqOpts{session: ls.session}, http.StatusNotFound},
		{"an unknown release's socket is not found", "/releases/999999/log/ws", reqOpts{session: ls.session}, http.StatusNotFound},
		{"an unknown release's API socket is not found", "/api/v1/releases/999999/log/ws", reqOpts{token: ls.token}, http.StatusNotFound},
		{"the API log needs a token", "/api/v1/releases/" + id + "/log", reqOpts{}, http.StatusUnauthorized},
		{"the API socket needs a token", "/api/v1/releases/" + id + "/log/ws", reqOpts{}, http.StatusUnauthorized},
		{"the browser socket sends a stranger to sign in", "/releases/" + id + "/log/ws", reqOpts{}, http.StatusSeeOther},
		{"a role without view permission may not read the log", "/releases/" + id + "/log.txt", reqOpts{session: ghost}, http.StatusForbidden},
		{"a role without view permission may not open the socket", "/releases/" + id + "/log/ws", reqOpts{session: ghost}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := ls.do(http.MethodGet, tc.path, tc.o); resp.StatusCode != tc.status {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, tc.status, body)
			}
		})
	}
	t.Run("a browser socket from another site is refused", func(t *testing.T) {
		h := http.Header{}
		h.Set("Cookie", sessionCookie+"="+ls.session)
		h.Set("Origin", "http://evil.example")
		_, resp, _ := websocket.DefaultDialer.Dial(ls.wsURL("/releases/"+id+"/log/ws"), h)
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %s, want 403", respStatus(resp))
		}
	})
}

func TestReleaseLogSocketReplaysThenEndsWithTheReleaseStatus(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	f := seedEnvironments(t, ls.testServer)
	ctx := context.Background()
	r := addRelease(t, ls.testServer, f, models.ReleaseDeploying)
	w, err := ls.logs.NewWriter(ctx, r.LogStream())
	if err != nil {
		t.Fatal(err)
	}
	w.Line(deployLog[0])
	w.Line(deployLog[1])
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	api := http.Header{}
	api.Set("Authorization", "Bearer "+ls.token)
	browser := http.Header{}
	browser.Set("Cookie", sessionCookie+"="+ls.session)
	browser.Set("Origin", ls.srv.URL)
	sockets := []struct {
		name string
		conn *websocket.Conn
		c    *collector
	}{
		{"the API socket", ls.dialLog(t, "/api/v1/releases/"+itoa(r.ID)+"/log/ws", api), newCollector(t, 1)},
		{"the browser socket", ls.dialLog(t, "/releases/"+itoa(r.ID)+"/log/ws?from=2", browser), newCollector(t, 2)},
	}
	for _, s := range sockets {
		first, err := readFrame(t, s.conn)
		if err != nil || first.T != "state" || first.Status != models.ReleaseDeploying || first.Final {
			t.Fatalf("%s: first frame %+v (%v), want the deploying state", s.name, first, err)
		}
		for s.c.next <= 2 { // the replay
			fr, err := readFrame(t, s.conn)
			if err != nil {
				t.Fatalf("%s: replay: %v", s.name, err)
			}
			s.c.add(fr)
		}
	}

	// The deploy goes on: one more line, then it fails, as the worker
	// records it (release first, then the log's end).
	w.Line(deployLog[2])
	if err := ls.store.FailRelease(ctx, r.ID, time.Now().UTC(), "the app did not pass its health check", "app output"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, models.ReleaseFailed); err != nil {
		t.Fatal(err)
	}
	for _, s := range sockets {
		s.c.readToEnd(s.conn)
		if s.c.end.Status != models.ReleaseFailed || s.c.end.Last != 3 {
			t.Errorf("%s ended with %+v, want failed at line 3", s.name, *s.c.end)
		}
	}
	if got := sockets[0].c.lines; strings.Join(got, "\n") != strings.Join(deployLog, "\n") {
		t.Errorf("the API socket sent %q, want every line raw, once, in order", got)
	}
	if got := sockets[1].c.lines; len(got) != 2 || !strings.Contains(got[0], "&lt;b&gt;health") || !strings.Contains(got[1], "[app] listening") {
		t.Errorf("the browser socket sent %q, want lines 2 and 3 as escaped HTML", got)
	}

	t.Run("a release that finished without closing its log ends with the release's status", func(t *testing.T) {
		r := addRelease(t, ls.testServer, f, models.ReleaseDeploying)
		writeLines(t, ls.logs, r.LogStream(), "", "deploying", "worker lost")
		if err := ls.store.FailRelease(ctx, r.ID, time.Now().UTC().Add(-time.Minute), "interrupted", ""); err != nil {
			t.Fatal(err)
		}
		conn := ls.dialLog(t, "/api/v1/releases/"+itoa(r.ID)+"/log/ws", api)
		c := newCollector(t, 1)
		c.readToEnd(conn)
		if c.end.Status != models.ReleaseFailed || len(c.lines) != 2 {
			t.Fatalf("ended with %+v after %q, want failed after 2 lines", *c.end, c.lines)
		}
	})
}

func TestReleasePagesEmbedTheLogViewer(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	f := seedEnvironments(t, ls.testServer)
	ctx := context.Background()
	running := addRelease(t, ls.testServer, f, models.ReleaseDeploying)
	writeLines(t, ls.logs, running.LogStream(), "", deployLog...)
	failed := addRelease(t, ls.testServer, f, models.ReleaseDeploying)
	writeLines(t, ls.logs, failed.LogStream(), models.ReleaseFailed, deployLog...)
	if err := ls.store.FailRelease(ctx, failed.ID, time.Now().UTC(), "the app exited before it became healthy (exit status 3)", "fatal: <told> to exit"); err != nil {
		t.Fatal(err)
	}
	// The running deploy holds dev's lock; the next one waits for it.
	if _, err := ls.store.AcquireDeployLock(ctx, f.envs["dev"].ID, running.ID); err != nil {
		t.Fatal(err)
	}
	queued := addRelease(t, ls.testServer, f, models.ReleasePending)
	viewer := `data-testid="log-viewer"`
	escaped := "&lt;b&gt;health"
	for _, tc := range []struct {
		name, path    string
		want, notWant []string
	}{
		{"a running deploy's page follows its log live", "/releases/" + itoa(running.ID),
			[]string{viewer, `data-socket="/releases/` + itoa(running.ID) + `/log/ws"`, `data-lines="/releases/` + itoa(running.ID) + `/log/lines"`,
				`data-live="true"`, `data-live-region`, "data-log-status-mirror", "term-fg31", escaped, `id="L3"`, `href="#L3"`, "logview."},
			[]string{"<b>health", "every 2s", "poll=1", `data-reload-on-end="true"`}},
		{"a failed deploy's page shows its finished log without script, and the instance's output", "/releases/" + itoa(failed.ID),
			[]string{viewer, `data-live="false"`, escaped, `data-testid="release-output"`, "fatal: &lt;told&gt; to exit",
				`data-testid="release-error"`, "exit status 3", `href="/releases/` + itoa(failed.ID) + `/log.txt"`, "Lines 1–3 of 3"},
			[]string{"<told>", "every 2s"}},
		{"a queued deploy's page says what it waits for and waits for its log", "/releases/" + itoa(queued.ID),
			[]string{`data-testid="waiting"`, `href="/releases/` + itoa(running.ID) + `"`, `data-live="true"`, "Waiting for output"}, nil},
		{"the page reads from a line without script", "/releases/" + itoa(failed.ID) + "?from=2", []string{"Lines 2–3 of 3", `href="/releases/` + itoa(failed.ID) + `?from=1#L1"`}, nil},
		{"the page searches without script", "/releases/" + itoa(failed.ID) + "?q=listening", []string{`data-testid="log-search-results"`, `href="#L3"`}, nil},
		{"the environment page follows the deploy in progress", "/projects/shop/environments/dev",
			[]string{`data-testid="active-deploy"`, viewer, `data-socket="/releases/` + itoa(running.ID) + `/log/ws"`, `data-live="true"`, escaped},
			[]string{"every 2s", "<b>health"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ls.do(http.MethodGet, tc.path, reqOpts{session: ls.session})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			pageHas(t, body, tc.want, tc.notWant)
		})
	}
}

// disabledAttr finds the disabled attribute in a tag.
var disabledAttr = regexp.MustCompile(`\sdisabled[\s>]`)

// buttonTag returns the opening tag of the button with data-testid id.
func buttonTag(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `data-testid="`+id+`"`)
	if i < 0 {
		t.Fatalf("no button %s on the page", id)
	}
	start := strings.LastIndex(body[:i], "<button")
	end := i + strings.Index(body[i:], ">")
	return body[start : end+1]
}

func TestBuildPageDeployBox(t *testing.T) {
	ts := newTestServer(t)
	f := seedEnvironments(t, ts)
	ctx := context.Background()
	staging, err := ts.store.Environment(ctx, f.envs["staging"].ID)
	if err != nil {
		t.Fatal(err)
	}
	staging.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: time.Now().Add(-time.Hour).UTC(),
		End: time.Now().Add(time.Hour).UTC(), Reason: "migration"}})
	if err := ts.store.UpdateEnvironmentPolicy(ctx, staging); err != nil {
		t.Fatal(err)
	}
	failed := &models.Build{ProjectID: f.project.ID, Number: 3, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("d", 40),
		Trigger: "manual", Status: models.BuildFailed}
	if err := testkit.InsertFixture(ctx, ts.store, failed); err != nil {
		t.Fatal(err)
	}
	sessions := map[string]string{}
	for name, role := range map[string]auth.Role{"dora": auth.Developer, "lee": auth.Lead, "ada": auth.Admin, "vic": auth.Viewer} {
		sessions[name] = ts.session(ts.user(name, role))
	}
	page := "/builds/" + itoa(f.build.ID)

	type button struct {
		enabled bool
		why     string
	}
	for _, tc := range []struct {
		name, who string
		buttons   map[string]button
		want      []string
	}{
		{"a developer deploys to dev but not to protected production or frozen staging", "dora", map[string]button{
			"dev":        {enabled: true},
			"staging":    {why: "only an admin can deploy during a freeze"},
			"production": {why: "production is protected"},
		}, []string{"this artifact is live in", `data-confirm="This artifact is already live in dev. Deploy it again?"`}},
		{"a lead also deploys to production", "lee", map[string]button{
			"dev": {enabled: true}, "production": {enabled: true}, "staging": {why: "only an admin"},
		}, nil},
		{"an admin deploys to frozen staging with a reason", "ada", map[string]button{
			"dev": {enabled: true}, "staging": {enabled: true}, "production": {enabled: true},
		}, []string{`id="freeze-reason-staging"`, `name="freeze_override_reason" required`}},
		{"a viewer sees why nothing can be deployed", "vic", map[string]button{
			"dev": {why: "needs the developer, lead or admin role"}, "staging": {why: "needs the developer"}, "production": {why: "needs the developer"},
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodGet, page, reqOpts{session: sessions[tc.who]})
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="deploy-buttons"`) {
				t.Fatalf("%d, no deploy box", resp.StatusCode)
			}
			for env, b := range tc.buttons {
				tag := buttonTag(t, body, "deploy-to-"+env)
				if disabled := disabledAttr.MatchString(tag); disabled == b.enabled {
					t.Errorf("deploy to %s: %s, want enabled %v", env, tag, b.enabled)
				}
				why := `data-testid="deploy-why-` + env + `"`
				if i := strings.Index(body, why); (i >= 0) != (b.why != "") || (i >= 0 && !strings.Contains(body[i:i+400], b.why)) {
					t.Errorf("deploy to %s: the reason must be %q", env, b.why)
				}
			}
			pageHas(t, body, tc.want, nil)
		})
	}
	t.Run("a failed build offers no deploy", func(t *testing.T) {
		resp, body := ts.do(http.MethodGet, "/builds/"+itoa(failed.ID), reqOpts{session: sessions["dora"]})
		if resp.StatusCode != http.StatusOK || strings.Contains(body, "deploy-buttons") {
			t.Fatalf("%d; a failed build must not offer deploys", resp.StatusCode)
		}
	})

	post := func(env string) *http.Response {
		resp, _ := ts.do(http.MethodPost, "/projects/shop/environments/"+env+"/deploys", reqOpts{session: sessions["dora"], csrf: true,
			form: url.Values{"build_id": {itoa(f.build.ID)}}})
		return resp
	}
	t.Run("the box's button queues the deploy and opens the release page", func(t *testing.T) {
		resp := post("dev")
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/releases/") {
			t.Fatalf("%d to %q, want the new release's page", resp.StatusCode, loc)
		}
		rels, err := ts.store.Releases(ctx, f.envs["dev"].ID, 1)
		if err != nil || len(rels) != 1 || loc != "/releases/"+itoa(rels[0].ID) || rels[0].Status != models.ReleasePending || *rels[0].BuildID != f.build.ID {
			t.Fatalf("newest dev release %+v (%v), redirected to %s", rels, err, loc)
		}
		resp, body := ts.do(http.MethodGet, loc, reqOpts{session: sessions["dora"]})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-live="true"`) || !strings.Contains(body, `data-socket="`+loc+`/log/ws"`) {
			t.Fatalf("the release page must follow the new deploy's log live: %d", resp.StatusCode)
		}
	})
	t.Run("the handler refuses what the box disables", func(t *testing.T) {
		for _, env := range []string{"production", "staging"} {
			if resp := post(env); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s: %d, want 403", env, resp.StatusCode)
			}
			if rels, _ := ts.store.Releases(ctx, f.envs[env].ID, 0); len(rels) != 0 {
				t.Fatalf("a refused deploy created %d releases in %s", len(rels), env)
			}
		}
	})
}
