package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/testpg"
)

// TestMain builds the binary once; the process-level tests run it.
func TestMain(m *testing.M) { os.Exit(e2e.Main(m)) }

// dataEnv points a one-off command at a fresh data directory.
func dataEnv(t *testing.T) []string {
	t.Helper()
	return []string{"SLIPWAY_DATA=" + t.TempDir()}
}

// me calls GET /api/v1/me with a bearer token.
func me(t *testing.T, base, token string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/me: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET /api/v1/me: %v", err)
		}
	}
	return resp.StatusCode, body
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signIn posts the login form like a browser (cookie jar, CSRF field) and
// returns the status and Location of the answer, and the client holding the
// session.
func signIn(t *testing.T, base, user, pass string) (int, string, *http.Client) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatalf("GET /login: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("GET /login: no _csrf field in the form:\n%s", page)
	}
	form := url.Values{"username": {user}, "password": {pass}, "_csrf": {string(m[1])}}
	resp, err = c.PostForm(base+"/login", form)
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), c
}

func TestUserAddWithPasswordFromStdinCanSignInAndGetAToken(t *testing.T) {
	p := e2e.StartPortal(t, e2e.Options{})
	const pass = "quinn-password-42"
	res := p.CLIInput(pass+"\n", "user", "add", "quinn", "--role", "qa", "--password-stdin")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "created quinn (qa)") {
		t.Fatalf("user add:\n%s", res)
	}
	if strings.Contains(res.Stdout+res.Stderr, pass) {
		t.Errorf("user add echoed the password it read from stdin:\n%s", res)
	}

	status, loc, client := signIn(t, p.URL, "quinn", pass)
	if status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("POST /login as quinn: %d to %q, want 303 to /", status, loc)
	}
	resp, err := client.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(home, []byte("quinn")) {
		t.Errorf("GET / after signing in: %d, page names quinn: %v", resp.StatusCode, bytes.Contains(home, []byte("quinn")))
	}
	if status, _, _ := signIn(t, p.URL, "quinn", pass+"x"); status != http.StatusUnauthorized {
		t.Errorf("POST /login with a wrong password: %d, want 401", status)
	}

	res = p.CLI("token", "create", "--user", "quinn", "--name", "deploy")
	if res.ExitCode != 0 {
		t.Fatalf("token create:\n%s", res)
	}
	token := strings.TrimSuffix(res.Stdout, "\n")
	if token == "" || strings.ContainsAny(token, " \t\n") {
		t.Fatalf("token create printed %q on stdout, want only the token", res.Stdout)
	}
	if strings.Contains(res.Stderr, token) {
		t.Errorf("token create also wrote the token to stderr:\n%s", res.Stderr)
	}
	status, who := me(t, p.URL, token)
	if status != http.StatusOK || who["username"] != "quinn" || who["role"] != "qa" {
		t.Errorf("GET /api/v1/me with the CLI token: %d %v, want 200 quinn/qa", status, who)
	}
}

func TestOperatorCommandsExplainMistakes(t *testing.T) {
	tests := []struct {
		name     string
		setup    [][]string // commands that must succeed first
		stdin    string
		args     []string
		wantExit int
		wantErr  string // in stderr
	}{
		{
			name:     "an unknown role is refused and named",
			args:     []string{"user", "add", "bob", "--role", "superuser"},
			wantExit: 2, wantErr: `unknown role "superuser"`,
		},
		{
			name:     "a duplicate user is refused with a clear message",
			setup:    [][]string{{"user", "add", "ann", "--role", "developer"}},
			args:     []string{"user", "add", "ann", "--role", "qa"},
			wantExit: 1, wantErr: `a user called "ann" already exists`,
		},
		{
			name:     "an empty password on stdin is refused",
			args:     []string{"user", "add", "cy", "--role", "viewer", "--password-stdin"},
			wantExit: 2, wantErr: "standard input was empty",
		},
		{
			name:     "a too short password on stdin is refused",
			stdin:    "short\n",
			args:     []string{"user", "add", "cy", "--role", "viewer", "--password-stdin"},
			wantExit: 2, wantErr: "between 10 and 72 bytes",
		},
		{
			name:     "a token for a user who does not exist is refused",
			args:     []string{"token", "create", "--user", "ghost"},
			wantExit: 1, wantErr: `no user called "ghost"`,
		},
		{
			name:     "the worker refuses to run without PostgreSQL",
			args:     []string{"worker"},
			wantExit: 2, wantErr: "slipway worker needs SLIPWAY_DATABASE_URL=postgres://",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := dataEnv(t)
			for _, s := range tt.setup {
				if res := e2e.Exec(t, env, "", s...); res.ExitCode != 0 {
					t.Fatalf("setup %v:\n%s", s, res)
				}
			}
			res := e2e.Exec(t, env, tt.stdin, tt.args...)
			if res.ExitCode != tt.wantExit || !strings.Contains(res.Stderr, tt.wantErr) {
				t.Errorf("slipway %s: want exit %d and %q in stderr, got\n%s", strings.Join(tt.args, " "), tt.wantExit, tt.wantErr, res)
			}
			if res.Stdout != "" {
				t.Errorf("a failed command printed on stdout: %q", res.Stdout)
			}
		})
	}
}

func TestUnknownCommandPrintsUsageAndExits2(t *testing.T) {
	res := e2e.Exec(t, dataEnv(t), "", "frobnicate")
	if res.ExitCode != 2 || res.Stdout != "" ||
		!strings.Contains(res.Stderr, `unknown command "frobnicate"`) ||
		!strings.Contains(res.Stderr, "Usage:") || !strings.Contains(res.Stderr, "slipway migrate") {
		t.Errorf("want exit 2, the error and the usage on stderr, nothing on stdout; got\n%s", res)
	}
}

func TestVersionPrints(t *testing.T) {
	res := e2e.Exec(t, nil, "", "version")
	if res.ExitCode != 0 || !regexp.MustCompile(`^slipway \S+\n$`).MatchString(res.Stdout) {
		t.Errorf("want one line \"slipway VERSION\", got\n%s", res)
	}
}

func TestMigrateTwiceIsFine(t *testing.T) {
	env := dataEnv(t)
	for i := 1; i <= 2; i++ {
		res := e2e.Exec(t, env, "", "migrate")
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, "database is up to date (sqlite") {
			t.Fatalf("migrate run %d:\n%s", i, res)
		}
	}
}

func TestServeOnATakenPortNamesTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	data := t.TempDir()
	res := e2e.Exec(t, []string{"SLIPWAY_DATA=" + data, "SLIPWAY_EDGE=child"}, "", "serve", "--addr", addr)
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "listen on "+addr) || !strings.Contains(res.Stderr, "address already in use") {
		t.Errorf("want exit 1 and an error naming %s, got\n%s", addr, res)
	}
	// Nothing was started: no edge process outlives the failed start.
	if _, err := os.Stat(filepath.Join(data, "run", "edge.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a start that could not listen started the edge anyway (run/edge.log: %v)", err)
	}
}

// shutdownBound is how long a SIGTERMed portal may take with an open
// connection. It is not a speed measurement: the portal's own grace is 30 s,
// so anything near that means shutdown waited on the client. (net/http
// closes a connection stuck in its headers after 5 s, hence not 2 s.)
const shutdownBound = 10 * time.Second

func TestServeExitsCleanlyOnSIGTERMWithOpenConnections(t *testing.T) {
	tests := []struct {
		name string
		// open leaves a connection in some state on the portal at addr.
		open func(t *testing.T, conn net.Conn, addr string)
	}{
		{
			name: "an idle keep-alive connection does not hold the shutdown",
			open: func(t *testing.T, conn net.Conn, addr string) {
				fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("GET /healthz on the kept-alive connection: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			},
		},
		{
			name: "a client still sending its login body does not hold the shutdown",
			open: func(t *testing.T, conn net.Conn, addr string) {
				fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=slow", addr)
			},
		},
		{
			name: "a client that sent half its headers does not hold the shutdown",
			open: func(t *testing.T, conn net.Conn, addr string) {
				fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n", addr)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := e2e.StartPortal(t, e2e.Options{})
			conn, err := net.Dial("tcp", p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tt.open(t, conn, p.Addr)
			// Let the server read what was sent, so the connection is in the
			// state the case names when the signal arrives.
			time.Sleep(200 * time.Millisecond)

			start := time.Now()
			code := p.Stop()
			took := time.Since(start)
			t.Logf("exit %d %s after SIGTERM", code, took.Round(time.Millisecond))
			if code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, p.Stderr())
			}
			if took > shutdownBound {
				t.Errorf("exit took %s after SIGTERM, want well under the 30 s grace", took.Round(time.Millisecond))
			}
		})
	}
}

func TestServeAndMigrateOnPostgreSQL(t *testing.T) {
	dbURL := testpg.NewDatabase(t)
	env := []string{"SLIPWAY_DATA=" + t.TempDir(), "SLIPWAY_DATABASE_URL=" + dbURL}
	for i := 1; i <= 2; i++ {
		res := e2e.Exec(t, env, "", "migrate")
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, "database is up to date (postgres") {
			t.Fatalf("migrate run %d on PostgreSQL:\n%s", i, res)
		}
	}
	p := e2e.StartPortal(t, e2e.Options{DatabaseURL: dbURL})
	resp, err := http.Get(p.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz on PostgreSQL: %d", resp.StatusCode)
	}
	res := p.CLI("token", "create", "--user", "admin")
	if res.ExitCode != 0 {
		t.Fatalf("token create on PostgreSQL:\n%s", res)
	}
	if status, who := me(t, p.URL, strings.TrimSpace(res.Stdout)); status != http.StatusOK || who["role"] != "admin" {
		t.Errorf("GET /api/v1/me on PostgreSQL: %d %v", status, who)
	}
}

// lockedBuffer is an io.Writer the tests can read while run writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls the buffer until re matches or the deadline passes.
func waitFor(t *testing.T, b *lockedBuffer, re *regexp.Regexp, done <-chan error) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before %s: %v\n%s", re, err, b)
		case <-deadline:
			t.Fatalf("no %s in the log within 30 s:\n%s", re, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runInProcess starts run(ctx, args) in a goroutine; stop cancels it and
// returns run's error.
func runInProcess(t *testing.T, args ...string) (stderr *lockedBuffer, done <-chan error, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout lockedBuffer
	stderr = &lockedBuffer{}
	ch := make(chan error, 1)
	// returned is closed when run has returned runErr, whether or not the
	// test took that error from done already.
	returned := make(chan struct{})
	var runErr error
	go func() {
		runErr = run(ctx, args, strings.NewReader(""), &stdout, stderr)
		close(returned)
		ch <- runErr
	}()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case <-returned:
				err = runErr
			case <-time.After(45 * time.Second):
				err = errors.New("run did not return within 45 s of cancel")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stderr, ch, stop
}

var servingURL = regexp.MustCompile(`msg="slipway is running" url=(http://127\.0\.0\.1:\d+)`)

func TestRunServeAnswersAndReturnsNilWhenCancelled(t *testing.T) {
	stderr, done, stop := runInProcess(t, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir())
	base := waitFor(t, stderr, servingURL, done)[1]
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d, want 200", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Errorf("run returned %v after cancel, want nil\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("the log does not end with stopped:\n%s", stderr)
	}
}

func TestRunWorkerOnPostgreSQLReturnsNilWhenCancelled(t *testing.T) {
	dbURL := testpg.NewDatabase(t)
	stderr, done, stop := runInProcess(t, "worker", "--database-url", dbURL, "--data", t.TempDir())
	waitFor(t, stderr, regexp.MustCompile(`msg="slipway worker is running"`), done)
	if err := stop(); err != nil {
		t.Errorf("worker returned %v after cancel, want nil\n%s", err, stderr)
	}
}

func TestUserPasswdResetsThePasswordAndEndsSessions(t *testing.T) {
	p := e2e.StartPortal(t, e2e.Options{})
	const old, next = "olga-password-1", "olga-password-2"
	if res := p.CLIInput(old+"\n", "user", "add", "olga", "--role", "lead", "--password-stdin"); res.ExitCode != 0 {
		t.Fatalf("user add:\n%s", res)
	}
	status, _, client := signIn(t, p.URL, "olga", old)
	if status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", status)
	}
	res := p.CLIInput(next+"\n", "user", "passwd", "olga", "--password-stdin")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "password of olga changed; 1 sessions ended") {
		t.Fatalf("user passwd:\n%s", res)
	}
	if strings.Contains(res.Stdout+res.Stderr, next) {
		t.Errorf("user passwd echoed the password it read:\n%s", res)
	}
	resp, err := client.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the session from before the reset still works: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, _, _ := signIn(t, p.URL, "olga", old); status != http.StatusUnauthorized {
		t.Errorf("the old password still signs in: %d", status)
	}
	if status, _, _ := signIn(t, p.URL, "olga", next); status != http.StatusSeeOther {
		t.Errorf("the new password does not sign in: %d", status)
	}
	res = p.CLI("user", "passwd", "olga")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "new password: ") {
		t.Fatalf("user passwd without stdin generates one:\n%s", res)
	}
	if res := p.CLI("user", "passwd", "nobody"); res.ExitCode == 0 || !strings.Contains(res.Stderr, `no user called "nobody"`) {
		t.Errorf("an unknown user must fail clearly:\n%s", res)
	}
}
