package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

func TestMain(m *testing.M) {
	os.Setenv("SLIPWAY_BCRYPT_COST", "4")
	os.Exit(testpg.Main(m))
}

// testServer is a portal on an httptest server over a fresh SQLite store.
type testServer struct {
	t     testing.TB
	srv   *httptest.Server
	store *models.Store
	h     *Handler
	e     *echo.Echo
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerWith(t, false)
}

// newTestServerWith also runs River workers (builds run, unsandboxed)
// when work is set.
func newTestServerWith(t testing.TB, work bool) *testServer {
	t.Helper()
	return newTestServerConfig(t, work, Config{})
}

// newTestServerConfig is newTestServerWith with handler settings.
func newTestServerConfig(t testing.TB, work bool, cfg Config) *testServer {
	t.Helper()
	ctx := context.Background()
	store := testkit.OpenStore(t, testkit.Migrations(jobs.Migrate))
	data := t.TempDir()
	key, _ := secretbox.DecodeKey(secretbox.NewKey())
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	ls := logs.NewService(store, logs.Options{})
	t.Cleanup(func() { ls.Close() })
	arts, err := artifact.NewStore(filepath.Join(data, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := jobs.New(ctx, jobs.Deps{Store: store, DataDir: data, Secrets: box, Logs: ls, Artifacts: arts, Sandbox: runner.SandboxOff, WorkspaceDir: t.TempDir()},
		jobs.Options{Work: work, BuildWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = j.Stop(sctx)
	})
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Store: store, Jobs: j, Assets: assets, Logs: ls, Artifacts: arts, Secrets: box}, cfg)
	e := echo.New()
	h.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{t: t, srv: srv, store: store, h: h, e: e}
}

// user creates an account with a cheap password hash.
func (ts *testServer) user(name string, role auth.Role) *models.User {
	ts.t.Helper()
	hash, err := auth.HashPassword("password-" + name)
	if err != nil {
		ts.t.Fatal(err)
	}
	u := &models.User{Username: name, PasswordHash: hash, Role: string(role)}
	if err := ts.store.CreateUser(context.Background(), u); err != nil {
		ts.t.Fatal(err)
	}
	return u
}

// session creates a server-side session for u and returns the cookie value.
func (ts *testServer) session(u *models.User) string {
	ts.t.Helper()
	secret := auth.RandomSecret(32)
	now := time.Now().UTC()
	err := ts.store.CreateSession(context.Background(), &models.Session{ID: auth.HashSecret(secret), UserID: u.ID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		ts.t.Fatal(err)
	}
	return secret
}

// token creates an API token for u.
func (ts *testServer) token(u *models.User) (string, int64) {
	ts.t.Helper()
	tok, prefix := auth.NewToken()
	at := &models.APIToken{UserID: u.ID, Name: "t", Hash: auth.HashSecret(tok), Prefix: prefix}
	if err := ts.store.CreateAPIToken(context.Background(), at); err != nil {
		ts.t.Fatal(err)
	}
	return tok, at.ID
}

// reqOpts describes a request in tests.
type reqOpts struct {
	session string
	token   string
	csrf    bool
	form    url.Values
	body    string
	ctype   string
}

// testAnonCSRF is the pre-session cookie tests send when signed out.
const testAnonCSRF = "test-pre-session-0123456789abcdefghijklmnop"

// csrfFor returns the token the portal expects with this session cookie
// value (or, when empty, with the testAnonCSRF pre-session cookie).
func (ts *testServer) csrfFor(session string) string {
	if session == "" {
		return ts.h.csrfMAC("anon", testAnonCSRF)
	}
	return ts.h.csrfForSession(auth.HashSecret(session))
}

// do sends a request without following redirects.
func (ts *testServer) do(method, path string, o reqOpts) (*http.Response, string) {
	ts.t.Helper()
	var body io.Reader
	switch {
	case o.form != nil:
		if o.csrf {
			o.form.Set("_csrf", ts.csrfFor(o.session))
		}
		body = strings.NewReader(o.form.Encode())
		o.ctype = "application/x-www-form-urlencoded"
	case o.body != "":
		body = strings.NewReader(o.body)
	}
	req, err := http.NewRequest(method, ts.srv.URL+path, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	if o.ctype != "" {
		req.Header.Set("Content-Type", o.ctype)
	}
	if o.session != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: o.session})
	}
	if o.csrf {
		if o.session == "" {
			req.AddCookie(&http.Cookie{Name: csrfCookie, Value: testAnonCSRF})
		}
		req.Header.Set("X-CSRF-Token", ts.csrfFor(o.session))
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// browser is a cookie-keeping client that signs in through the login form.
func (ts *testServer) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// formToken fetches a page and returns the CSRF token in its form.
func formToken(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	i := strings.Index(s, `name="_csrf" value="`)
	if i < 0 {
		t.Fatalf("no CSRF field on %s (status %d)", u, resp.StatusCode)
	}
	s = s[i+len(`name="_csrf" value="`):]
	return s[:strings.Index(s, `"`)]
}
