package handlers

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
)

// TestDevelopersCannotPointRepositoriesAtThisMachine performs the port
// scan a developer could run through "Check connection" and project
// creation: every spelling of a loopback address, for each transport, must
// get one generic answer and never reach the listener.
func TestDevelopersCannotPointRepositoriesAtThisMachine(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dev := ts.session(ts.user("dev", auth.Developer))
	devTok, _ := ts.token(ts.user("dev-api", auth.Developer))
	admin := ts.session(ts.user("root", auth.Admin))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	forms := []string{
		"http://127.0.0.1:" + port + "/x.git",
		"http://127.1:" + port + "/x.git",
		"http://2130706433:" + port + "/x.git",
		"http://0x7f000001:" + port + "/x.git",
		"http://0177.0.0.1:" + port + "/x.git",
		"http://0:" + port + "/x.git",
		"http://[::1]:" + port + "/x.git",
		"http://[::ffff:127.0.0.1]:" + port + "/x.git",
		"http://localhost:" + port + "/x.git",
		"https://127.1:" + port + "/x.git",
		"https://localhost:" + port + "/x.git",
		"ssh://git@127.0.0.1:" + port + "/x.git",
		"ssh://git@127.1:" + port + "/x.git",
		"ssh://git@localhost:" + port + "/x.git",
		"git@127.1:x.git",
		"git@localhost:x.git",
	}
	const generic = "repository not found or not reachable"
	for i, raw := range forms {
		t.Run(raw, func(t *testing.T) {
			resp, body := ts.do(http.MethodPost, "/projects/check", reqOpts{session: dev, csrf: true, form: projectForm("repo_url", raw)})
			if resp.StatusCode != 200 || strings.Contains(body, `data-testid="check-ok"`) {
				t.Fatalf("check: %d %s", resp.StatusCode, body)
			}
			if want := htmlEscape(generic + ": " + raw); !strings.Contains(body, want) {
				t.Fatalf("check: want exactly %q, got:\n%s", want, body)
			}
			resp, body = ts.do(http.MethodPost, "/projects", reqOpts{session: dev, csrf: true,
				form: projectForm("name", "scan "+itoa(int64(i)), "repo_url", raw)})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, htmlEscape(generic+": "+raw)) {
				t.Fatalf("create: %d, want 422 with the generic error:\n%s", resp.StatusCode, body)
			}
			resp, body = ts.do(http.MethodPost, "/api/v1/projects", reqOpts{token: devTok, ctype: "application/json",
				body: `{"name":"api scan ` + itoa(int64(i)) + `","repo_url":` + jsonString(raw) + `}`})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, generic) {
				t.Fatalf("API create: %d, want 422 with the generic error: %s", resp.StatusCode, body)
			}
		})
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the loopback listener saw %d connections from a developer's URLs", n)
	}

	t.Run("an admin may still link and check a repository on loopback", func(t *testing.T) {
		raw := "http://127.0.0.1:" + port + "/x.git"
		resp, body := ts.do(http.MethodPost, "/projects", reqOpts{session: admin, csrf: true, form: projectForm("name", "Loopback", "repo_url", raw)})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		ts.do(http.MethodPost, "/projects/check", reqOpts{session: admin, csrf: true, form: projectForm("repo_url", raw)})
		if conns.Load() == 0 {
			t.Fatal("an admin's check did not connect")
		}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
