package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// server serves the log sockets of a Viewer over plain net/http, as the
// portal does behind its routes: ?stream= names the stream, ?from= and
// ?format= are the socket's. The owner is always running.
type server struct {
	v   *Viewer
	svc *logs.Service
	srv *httptest.Server
}

// newServer starts a log service over cfg (SQLite in a temp dir when cfg
// is zero) and a socket server in front of it.
func newServer(t testing.TB, cfg models.Config) *server {
	t.Helper()
	ctx := context.Background()
	if cfg.URL == "" && cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	store := testkit.OpenStore(t, testkit.On(cfg))
	svc := logs.NewService(store, logs.Options{Window: 100_000}) // as serve.go
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	s := &server{v: NewViewer(svc), svc: svc}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, _ := strconv.Atoi(q.Get("from"))
		format := Format(q.Get("format"))
		if format == "" {
			format = FormatRaw
		}
		ws, err := s.v.Upgrade(w, r, true)
		if err != nil {
			return
		}
		running := func(context.Context) (State, error) { return State{Status: "running"}, nil }
		s.v.Serve(context.WithoutCancel(r.Context()), ws, Request{
			Stream: q.Get("stream"), From: from, Format: format, Initial: State{Status: "running"}, State: running,
		}, slog.Default())
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) wsURL(stream string, query string) string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/?stream=" + stream + query
}

// frame is any frame of the log socket.
type frame struct {
	T      string   `json:"t"`
	From   int      `json:"from"`
	Lines  []string `json:"lines"`
	Status string   `json:"status"`
	Last   int      `json:"last"`
}

func TestStateFrameSendsStepsAsAList(t *testing.T) {
	tests := []struct {
		name  string
		state State
		want  string
	}{
		{"no steps are an empty list, not null", State{Status: "running"}, `{"t":"state","status":"running","final":false,"steps":[]}`},
		{"steps go out as given", State{Status: "failed", Final: true, Steps: []map[string]int{{"first": 1}}},
			`{"t":"state","status":"failed","final":true,"steps":[{"first":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.state.frame()
			if err != nil || string(got) != tt.want {
				t.Fatalf("frame = %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}

// TestServeReplaysAClosedStreamThenEnds drives the engine without the
// portal: a closed stream is replayed from ?from= in frames, then the
// end frame and a normal close.
func TestServeReplaysAClosedStreamThenEnds(t *testing.T) {
	s := newServer(t, models.Config{})
	ctx := context.Background()
	w, err := s.svc.NewWriter(ctx, "build:9")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 700; i++ {
		w.Line(fmt.Sprintf("line %d", i))
	}
	if err := w.Close(ctx, "succeeded"); err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(s.wsURL("build:9", "&from=100"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	next, end := 100, false
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if !end || !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("socket ended with %v at line %d (end seen: %v)", err, next, end)
			}
			break
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		switch f.T {
		case "lines":
			if f.From != next || f.Lines[0] != fmt.Sprintf("line %d", next) {
				t.Fatalf("frame from %d (%q), want line %d", f.From, f.Lines[0], next)
			}
			next += len(f.Lines)
		case "end":
			if f.Status != "succeeded" || f.Last != 700 || next != 701 {
				t.Fatalf("end %+v after line %d", f, next-1)
			}
			end = true
		}
	}
}
