package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

// logServer is a portal with a log service, on SQLite or PostgreSQL,
// with a viewer account, its session and its API token.
type logServer struct {
	*testServer
	logs    *logs.Service
	session string
	token   string
}

// newLogServer starts a portal over cfg (SQLite in a temp dir when cfg is
// zero) with a started log service.
func newLogServer(t testing.TB, cfg models.Config) *logServer {
	t.Helper()
	ctx := context.Background()
	if cfg.URL == "" && cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	store := testkit.OpenStore(t, testkit.On(cfg), testkit.Migrations(jobs.Migrate))
	svc := logs.NewService(store, logs.Options{Window: 100_000}) // as serve.go
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Store: store, Assets: assets, Logs: svc}, Config{})
	e := echo.New()
	h.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	ts := &testServer{t: t, srv: srv, store: store, h: h, e: e}
	u := ts.user("viewer", auth.Viewer)
	tok, _ := ts.token(u)
	return &logServer{testServer: ts, logs: svc, session: ts.session(u), token: tok}
}

// insertBuild adds a project (once) and a build with steps, with plain SQL
// so the test does not depend on the build store's API.
func insertBuild(t testing.TB, store *models.Store, status string, finishedAgo time.Duration, steps ...models.BuildStep) *models.Build {
	t.Helper()
	ctx := context.Background()
	db := store.SQLDB()
	q := func(s string) string {
		if store.Dialect() != models.Postgres {
			return s
		}
		n := 0
		var b strings.Builder
		for _, r := range s {
			if r == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	now := time.Now().UTC()
	var pid int64
	err := db.QueryRowContext(ctx, q("SELECT id FROM projects WHERE slug = ?"), "web").Scan(&pid)
	if err != nil {
		err = db.QueryRowContext(ctx, q(`INSERT INTO projects (slug, name, repo_url, default_branch, webhook_secret_sealed, poll_interval, next_build_number, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, 1, ?, ?) RETURNING id`), "web", "Web", "https://example.com/web.git", "main", []byte("x"), now, now).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
	}
	var number int64
	if err := db.QueryRowContext(ctx, q("SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE project_id = ?"), pid).Scan(&number); err != nil {
		t.Fatal(err)
	}
	var finished *time.Time
	if models.BuildFinished(status) {
		f := now.Add(-finishedAgo)
		finished = &f
	}
	var id int64
	err = db.QueryRowContext(ctx, q(`INSERT INTO builds (project_id, number, ref, ref_type, commit_sha, "trigger", status, log_truncated, job_id, created_at, started_at, finished_at)
		VALUES (?, ?, 'main', 'branch', '0123456789abcdef', 'manual', ?, ?, 0, ?, ?, ?) RETURNING id`),
		pid, number, status, false, now, now, finished).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range steps {
		_, err := db.ExecContext(ctx, q(`INSERT INTO build_steps (build_id, position, name, status, first_line, last_line, started_at, finished_at, duration_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), id, i+1, s.Name, s.Status, s.FirstLine, s.LastLine, now, finished, s.DurationMS)
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := store.Build(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeLines writes lines through a Writer and closes the stream with
// status (left open when status is "").
func writeLines(t testing.TB, svc *logs.Service, stream string, status string, lines ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := svc.NewWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		w.Line(l)
	}
	if status == "" {
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := w.Close(ctx, status); err != nil {
		t.Fatal(err)
	}
}

// frame is any frame of the log socket.
type frame struct {
	T         string   `json:"t"`
	From      int      `json:"from"`
	Lines     []string `json:"lines"`
	Status    string   `json:"status"`
	Truncated bool     `json:"truncated"`
	Last      int      `json:"last"`
	Message   string   `json:"message"`
	Final     bool     `json:"final"`
	Steps     []struct {
		Name  string `json:"name"`
		First int    `json:"first"`
		Last  int    `json:"last"`
	} `json:"steps"`
}

// dialAPI opens the API log socket of a build with the viewer's token.
func (ls *logServer) dialAPI(t testing.TB, buildID int64, query string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+ls.token)
	conn, resp, err := websocket.DefaultDialer.Dial(ls.wsURL(fmt.Sprintf("/api/v1/builds/%d/log/ws%s", buildID, query)), h)
	if err != nil {
		t.Fatalf("dial API log socket: %v (%s)", err, respStatus(resp))
	}
	return conn
}

// dialBrowser opens the browser log socket with the viewer's session and
// a matching Origin.
func (ls *logServer) dialBrowser(t testing.TB, buildID int64, query string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	h.Set("Cookie", sessionCookie+"="+ls.session)
	h.Set("Origin", ls.srv.URL)
	conn, resp, err := websocket.DefaultDialer.Dial(ls.wsURL(fmt.Sprintf("/builds/%d/log/ws%s", buildID, query)), h)
	if err != nil {
		t.Fatalf("dial browser log socket: %v (%s)", err, respStatus(resp))
	}
	return conn
}

func (ls *logServer) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(ls.srv.URL, "http") + path
}

func respStatus(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

// readFrame reads one frame within 30 s.
func readFrame(t testing.TB, conn *websocket.Conn) (frame, error) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, data, err := conn.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q is not JSON: %v", data, err)
	}
	return f, nil
}

// collector checks that lines arrive exactly once, in order.
type collector struct {
	t     testing.TB
	next  int
	lines []string
	end   *frame
}

func newCollector(t testing.TB, from int) *collector { return &collector{t: t, next: from} }

// add takes a frame; it fails the test on a gap or a repeat.
func (c *collector) add(f frame) {
	c.t.Helper()
	switch f.T {
	case "lines":
		if f.From != c.next {
			c.t.Fatalf("frame starts at line %d, want %d (a gap or a repeat)", f.From, c.next)
		}
		if len(f.Lines) == 0 {
			c.t.Fatalf("empty lines frame at %d", f.From)
		}
		c.lines = append(c.lines, f.Lines...)
		c.next += len(f.Lines)
	case "end":
		if c.end != nil {
			c.t.Fatal("two end frames")
		}
		c.end = &f
	case "state":
	default:
		c.t.Fatalf("unexpected frame %+v", f)
	}
}

// readToEnd reads frames until the end frame and the server's close.
func (c *collector) readToEnd(conn *websocket.Conn) {
	c.t.Helper()
	for {
		f, err := readFrame(c.t, conn)
		if err != nil {
			if c.end == nil {
				c.t.Fatalf("socket failed before the end frame: %v", err)
			}
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				c.t.Fatalf("socket ended with %v, want a normal close", err)
			}
			return
		}
		if c.end != nil {
			c.t.Fatalf("frame after the end frame: %+v", f)
		}
		c.add(f)
	}
}

func numbered(prefix string, from, to int) []string {
	out := make([]string, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}
