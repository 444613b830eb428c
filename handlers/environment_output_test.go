package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

func TestAppOutputOnThePageAndThroughTheAPI(t *testing.T) {
	ts := newTestServer(t)
	f := seedEnvironments(t, ts)
	ctx := context.Background()
	w, err := ts.h.logs.NewWriter(ctx, models.AppOutputStream(f.r2.ID))
	if err != nil {
		t.Fatal(err)
	}
	w.Line("hello from the app")
	w.Line("<b>not html</b> token ********")
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	viewer := ts.user("vic", auth.Viewer)
	tok, _ := ts.token(viewer)
	sess := ts.session(viewer)

	resp, body := ts.do(http.MethodGet, "/projects/shop/environments/dev", reqOpts{session: sess})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("environment page: %d", resp.StatusCode)
	}
	for _, want := range []string{`data-testid="app-output"`, "hello from the app", "&lt;b&gt;not html", "/projects/shop/environments/dev/output/ws"} {
		if !strings.Contains(body, want) {
			t.Errorf("environment page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>not html") {
		t.Error("app output reached the page as HTML")
	}

	for _, tc := range []struct {
		name, path, token string
		code              int
		want              string
	}{
		{"a viewer reads the last lines as JSON lines", "/api/v1/projects/shop/environments/dev/output", tok, 200,
			`{"line":1,"text":"hello from the app"}` + "\n" + `{"line":2,"text":"\u003cb\u003enot html\u003c/b\u003e token ********"}` + "\n"},
		{"lines limits to the last ones", "/api/v1/projects/shop/environments/dev/output?lines=1", tok, 200,
			`{"line":2,"text":"\u003cb\u003enot html\u003c/b\u003e token ********"}` + "\n"},
		{"from reads on from a line", "/api/v1/projects/shop/environments/dev/output?from=2&lines=5", tok, 200,
			`{"line":2,"text":"\u003cb\u003enot html\u003c/b\u003e token ********"}` + "\n"},
		{"a bad lines is a 400", "/api/v1/projects/shop/environments/dev/output?lines=0", tok, 400, "lines must be"},
		{"a bad from is a 400", "/api/v1/projects/shop/environments/dev/output?from=x", tok, 400, "from must be"},
		{"nothing live is a 404", "/api/v1/projects/shop/environments/staging/output", tok, 404, "nothing is live"},
		{"an unknown environment is a 404", "/api/v1/projects/shop/environments/nope/output", tok, 404, "no environment"},
		{"no token is a 401", "/api/v1/projects/shop/environments/dev/output", "", 401, ""},
		{"the socket wants a websocket handshake", "/api/v1/projects/shop/environments/dev/output/ws", tok, 400, "websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(http.MethodGet, tc.path, reqOpts{token: tc.token})
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("GET %s = %d %q, want %d with %q", tc.path, resp.StatusCode, body, tc.code, tc.want)
			}
			if tc.code == 200 && resp.Header.Get("X-Slipway-Release") != itoa(f.r2.ID) {
				t.Errorf("X-Slipway-Release = %q", resp.Header.Get("X-Slipway-Release"))
			}
		})
	}
}
