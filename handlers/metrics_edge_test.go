package handlers

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// startEdgeEngine runs an edge daemon on a unix socket in a fresh data dir
// and returns a client driving it over that socket, as `slipway serve`
// drives `slipway edge`. Everything stops when the test ends.
func startEdgeEngine(t *testing.T) (*edge.Client, string) {
	t.Helper()
	data := t.TempDir()
	d := edge.New(edge.Options{DataDir: data, Sandbox: deploy.SandboxOff, HealthTimeout: 30 * time.Second,
		DrainTimeout: 5 * time.Second, StopTimeout: 5 * time.Second})
	ctx := context.Background()
	if err := d.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(data, "edge.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler(nil), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := edge.Dial(dctx, edge.ClientOptions{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cl.Close(sctx)
		if err := d.Close(sctx); err != nil {
			t.Errorf("close the edge: %v", err)
		}
		_ = srv.Close()
	})
	return cl, data
}

// syncLines collects output lines from several goroutines.
type syncLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *syncLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// With the instances in an edge process, /metrics reads them through the
// edge client, and the pool's output arrives labelled by slot from the
// edge, masked on the portal's side with the label kept.
func TestEdgeEngineExportsInstancesAndLabelsOutput(t *testing.T) {
	const secret = "s3cret-edge-token"
	cl, data := startEdgeEngine(t)
	ts := newEngineTestServer(t, cl)
	f := seedEnvironments(t, ts)
	key := f.envs["dev"].EngineKey()
	addr, err := cl.EnsureEdge(key, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out syncLines
	dir := buildTestAppIn(t, filepath.Join(data, "releases", "r2"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := deploy.RolloutSpec{Instances: 2, Output: out.add, InstanceSpec: deploy.InstanceSpec{Env: key, ReleaseID: f.r2.ID, Dir: dir,
		Command: "exec ./app", Vars: map[string]string{"VERSION": "v2"}, HealthPath: "/healthz",
		Lines: func(emit func(string)) io.WriteCloser { return runner.NewLineWriter([]string{secret}, 0, emit) }}}
	if _, err := cl.Rollout(ctx, spec, nil); err != nil {
		t.Fatal(err)
	}

	const n = 30
	for range n {
		resp, err := http.Get("http://" + addr + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The edge counts a request once it has answered; its status is read
	// over the socket.
	devLabels := map[string]string{"project": "shop", "environment": "dev"}
	var slots map[string]float64
	testkit.Eventually(t, 10*time.Second, func() bool {
		slots = map[string]float64{}
		sum := 0.0
		for _, s := range samples(ts.scrape(), "slipway_instance_requests_total", devLabels) {
			slots[s["slot"]] += value(s)
			sum += value(s)
		}
		return sum >= n && slots["1"] > 0 && slots["2"] > 0
	}, "requests of slots 1 and 2 through the edge client to add up to %d", n)
	if got := samples(ts.scrape(), "slipway_environment_instances_serving", devLabels); len(got) != 1 || value(got[0]) != 2 {
		t.Errorf("serving through the edge client = %v, want 2", got)
	}

	port := 0
	for _, s := range cl.Status(key).Pool {
		if s.Slot == 2 {
			port = s.Port
		}
	}
	if port == 0 {
		t.Fatalf("no slot 2 in %+v", cl.Status(key).Pool)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/say?line=" + url.QueryEscape("token="+secret))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "[2] token=" + runner.Mask
	testkit.Eventually(t, 10*time.Second, func() bool { return slices.Contains(out.all(), want) }, "the line %q", want)
	for _, l := range out.all() {
		if strings.Contains(l, secret) {
			t.Errorf("a secret slipped past masking: %q", l)
		}
	}
	if !slices.Contains(out.all(), "[1] app v2 starting") {
		t.Errorf("output %q lacks slot 1's labelled first line", out.all())
	}
}
