package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/testkit"
)

var appBin, sayBin string

// TestMain builds the slipway binary (the edge under test) and the deploy
// tests' app.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slipway-edge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	appBin = filepath.Join(dir, "app")
	if out, err := exec.Command("go", "build", "-o", appBin, "../deploy/testdata/app").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test app: %v\n%s", err, out)
		os.Exit(1)
	}
	// The jobs tests' app prints a line on GET /say?msg=.
	sayBin = filepath.Join(dir, "sayapp")
	if out, err := exec.Command("go", "build", "-o", sayBin, "../../jobs/testdata/app").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the jobs test app: %v\n%s", err, out)
		os.Exit(1)
	}
	code := e2e.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// edgeProc is a running `slipway edge`.
type edgeProc struct {
	t       testing.TB
	data    string
	socket  string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// startEdge runs `slipway edge` on data and waits for its socket. At
// cleanup it stops the edge (and with it every app). Its output goes to a
// file: a pipe would stay open in the edge an upgrade starts.
func startEdge(t testing.TB, data string) *edgeProc {
	t.Helper()
	e := &edgeProc{t: t, data: data, socket: edge.DefaultSocket(data), done: make(chan struct{}),
		logPath: filepath.Join(t.TempDir(), "edge.log")}
	logf, err := os.Create(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	e.cmd = exec.Command(e2e.Binary(t), "edge", "--data", data, "--sandbox", "off", "--log-level", "debug")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.cmd.Wait(); close(e.done) }()
	t.Cleanup(func() {
		stopAll(t, data)
		if t.Failed() {
			t.Logf("edge output:\n%s", e.output())
		}
	})
	e.waitReady()
	return e
}

func (e *edgeProc) output() string {
	b, _ := os.ReadFile(e.logPath)
	return string(b)
}

func (e *edgeProc) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			e.t.Fatalf("the edge exited: %s", e.output())
		default:
		}
		if c, err := net.Dial("unix", e.socket); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("the edge does not answer on %s:\n%s", e.socket, e.output())
}

// kill ends the edge with SIGKILL: its apps must survive.
func (e *edgeProc) kill() {
	_ = e.cmd.Process.Kill()
	<-e.done
}

// stopAll stops whatever edge serves data (SIGTERM: it stops its apps),
// and kills what the state file still names, so that no test leaves a
// process behind.
func stopAll(t testing.TB, data string) {
	sock := edge.DefaultSocket(data)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if cl, err := edge.Dial(ctx, edge.ClientOptions{Socket: sock}); err == nil {
		pid := cl.Info().PID
		_ = cl.Close(ctx)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 600 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	cancel()
	for _, pi := range statePIDs(t, data) {
		if pi.Running() {
			_ = syscall.Kill(-pi.PID, syscall.SIGKILL)
		}
	}
}

type stateJSON struct {
	Envs map[string]struct {
		Desired edge.Desired                   `json:"desired"`
		Bound   string                         `json:"bound"`
		Pools   map[int64][]deploy.ProcessInfo `json:"pools"`
		Serving int64                          `json:"serving"`
	} `json:"envs"`
}

func readState(t testing.TB, data string) stateJSON {
	t.Helper()
	var st stateJSON
	b, err := os.ReadFile(filepath.Join(data, "run", "edge-state.json"))
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file is not JSON: %v\n%s", err, b)
	}
	return st
}

func statePIDs(t testing.TB, data string) []deploy.ProcessInfo {
	b, err := os.ReadFile(filepath.Join(data, "run", "edge-state.json"))
	if err != nil {
		return nil
	}
	var st stateJSON
	_ = json.Unmarshal(b, &st)
	var out []deploy.ProcessInfo
	for _, e := range st.Envs {
		for _, pool := range e.Pools {
			out = append(out, pool...)
		}
	}
	return out
}

func dial(t testing.TB, data string) *edge.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := edge.Dial(ctx, edge.ClientOptions{Socket: edge.DefaultSocket(data)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return cl
}

// releaseDir makes a release directory holding the test app.
func releaseDir(t testing.TB, data string) string {
	t.Helper()
	dir := filepath.Join(data, "releases", "abc123")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// deployApp makes env serve release rel (the test app saying version) on
// n instances through the client, as the deploy job does, and returns the
// edge URL and the pids of the live pool by slot.
func deployApp(t testing.TB, cl *edge.Client, data, env string, rel int64, version string, n int) (string, []int) {
	t.Helper()
	addr, err := cl.EnsureEdge(env, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cl.Rollout(ctx, deploy.RolloutSpec{InstanceSpec: deploy.InstanceSpec{Env: env, ReleaseID: rel, Dir: releaseDir(t, data),
		Command: "exec " + appBin, Vars: map[string]string{"VERSION": version}, HealthPath: "/healthz"}, Instances: n}, nil)
	if err != nil || res.Instances != n {
		t.Fatalf("rollout of release %d on %d instance(s): %+v %v", rel, n, res, err)
	}
	return "http://" + addr, poolPIDs(t, cl.Status(env), rel)
}

// poolPIDs returns the pids of rel's instances in st's live pool, by slot.
func poolPIDs(t testing.TB, st deploy.EnvStatus, rel int64) []int {
	t.Helper()
	var pids []int
	for _, in := range st.Pool {
		if in.ReleaseID == rel {
			pids = append(pids, in.PID)
		}
	}
	return pids
}

func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func TestTheSocketIsPrivateAndASecondEdgeIsRefused(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	fi, err := os.Stat(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(e.socket)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v %v, want 0700", di.Mode(), err)
	}
	res := e2e.Exec(t, nil, "", "edge", "--data", data, "--sandbox", "off")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "another slipway edge already runs") {
		t.Errorf("a second edge on the same data dir: %s", res)
	}
	// The first one still answers.
	if info := dial(t, data).Info(); info.PID != e.cmd.Process.Pid {
		t.Errorf("the socket is served by pid %d, want %d", info.PID, e.cmd.Process.Pid)
	}
}

// rawPut sends a desired state over the socket without the client, so
// that the status code shows.
func rawPut(t testing.TB, socket string, ds any) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	b, _ := json.Marshal(ds)
	env := ""
	if d, ok := ds.(edge.Desired); ok {
		env = d.Env
	}
	req, _ := http.NewRequest(http.MethodPut, "http://edge/v1/env?env="+env, bytes.NewReader(b))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestADesiredStateChangeIsACompareAndSwap(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	ds := edge.Desired{Env: "7", Generation: 0, EdgeAddr: "127.0.0.1:0"}
	if code, body := rawPut(t, e.socket, ds); code != http.StatusOK || !strings.Contains(body, `"generation":1`) {
		t.Fatalf("first put: %d %s", code, body)
	}
	// A writer that read generation 0 too loses.
	ds.EdgeAddr = "127.0.0.1:1"
	code, body := rawPut(t, e.socket, ds)
	if code != http.StatusConflict || !strings.Contains(body, `"generation":1`) {
		t.Fatalf("stale put: %d %s, want 409 naming generation 1", code, body)
	}
	cl := dial(t, data)
	if _, err := cl.Put(context.Background(), ds); !errors.Is(err, edge.ErrConflict) {
		t.Errorf("client put of a stale generation: %v, want ErrConflict", err)
	}
	got, err := cl.Desired(context.Background(), "7")
	if err != nil || got.Generation != 1 || got.EdgeAddr != "127.0.0.1:0" {
		t.Errorf("after the lost race: %+v %v, want generation 1 with the first writer's address", got, err)
	}
	// Bad input: a clear 400, not a 500.
	for name, bad := range map[string]any{
		"unknown field":         map[string]any{"env": "7", "generation": 1, "frobnicate": true},
		"live not among them":   edge.Desired{Env: "7", Generation: 1, Live: 3},
		"two instances asked":   edge.Desired{Env: "7", Generation: 1, Releases: []edge.Release{{ID: 3, Instances: 2, Dir: "/x", Command: "x"}}},
		"edge addr not an addr": edge.Desired{Env: "7", Generation: 1, EdgeAddr: "nowhere"},
	} {
		code, body := rawPut(t, e.socket, bad)
		if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want 400 with an error", name, code, body)
		}
	}
}

func TestTheStateFileSurvivesACrashAndTheRestartedEdgeAdoptsTheWholePool(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	cl := dial(t, data)
	url, pids := deployApp(t, cl, data, "7", 41, "v1", 3)
	if len(pids) != 3 {
		t.Fatalf("live pool pids: %v, want 3", pids)
	}
	if got := get(t, url); got != "v1" {
		t.Fatalf("through the edge: %q", got)
	}

	e.kill() // kill -9: no chance to write anything more
	st := readState(t, data)
	env, ok := st.Envs["7"]
	var recorded []int
	for _, pi := range env.Pools[41] {
		recorded = append(recorded, pi.PID)
		if !pi.Running() {
			t.Errorf("the app (pid %d) died with the edge", pi.PID)
		}
		if pi.Slot < 1 || pi.Slot > 3 {
			t.Errorf("recorded slot %d of pid %d", pi.Slot, pi.PID)
		}
	}
	slices.Sort(recorded)
	want := slices.Sorted(slices.Values(pids))
	if !ok || env.Desired.Live != 41 || env.Serving != 41 || !slices.Equal(recorded, want) || env.Bound == "" {
		t.Fatalf("state after the crash: %+v, want release 41 serving on pids %v", st, want)
	}
	if fi, err := os.Stat(filepath.Join(data, "run", "edge-state.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file (it holds the apps' variables): %v %v, want mode 0600", fi.Mode(), err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(data, "run", ".edge-state.json.tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary state files left: %v", tmp)
	}

	e2 := startEdge(t, data)
	cl2 := dial(t, data)
	st2 := cl2.Status("7")
	if got := poolPIDs(t, st2, 41); !slices.Equal(got, pids) || st2.LiveReleaseID != 41 || st2.Desired != 3 {
		t.Fatalf("after the restart: pool %v of release %d (desired %d), want the same pids %v by slot", got, st2.LiveReleaseID, st2.Desired, pids)
	}
	if "http://"+st2.EdgeAddr != url {
		t.Errorf("edge address moved from %s to %s", url, st2.EdgeAddr)
	}
	seen := map[string]bool{}
	for range 30 {
		seen[get(t, url+"/whoami")] = true
	}
	if len(seen) != 3 {
		t.Errorf("30 requests through the restarted edge reached %d instance(s) (%v), want all 3", len(seen), seen)
	}
	if info := cl2.Info(); info.Adopted != 3 || !strings.Contains(e2.output(), "pool adopted") {
		t.Errorf("the edge adopted %d instance(s), want 3:\n%s", info.Adopted, e2.output())
	}
}

func TestAProcessThatIsNotTheRecordedOneIsNeitherAdoptedNorKilled(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	cl := dial(t, data)
	url, pids := deployApp(t, cl, data, "7", 41, "v1", 1)
	e.kill()
	_ = syscall.Kill(-pids[0], syscall.SIGKILL) // the app died too...

	// ...and its pid now names something else: an unrelated process
	// whose start time differs from the recorded one.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	path := filepath.Join(data, "run", "edge-state.json")
	b, _ := os.ReadFile(path)
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	proc := raw["envs"].(map[string]any)["7"].(map[string]any)["pools"].(map[string]any)["41"].([]any)[0].(map[string]any)
	proc["pid"] = other.Process.Pid
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	startEdge(t, data)
	cl2 := dial(t, data)
	deadline := time.Now().Add(20 * time.Second)
	var st deploy.EnvStatus
	for time.Now().Before(deadline) {
		if st = cl2.Status("7"); st.Live != nil && st.Live.State == deploy.StateHealthy {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Live == nil || st.Live.PID == other.Process.Pid || st.Live.PID == pids[0] {
		t.Fatalf("after the restart: %+v, want a new process for release 41", st.Live)
	}
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Errorf("the unrelated process at the recorded pid was killed: %v", err)
	}
	if got := get(t, url); got != "v1" {
		t.Errorf("through the restarted edge: %q", got)
	}
}

// TestARecordedProcessOfAnUnwantedReleaseIsEnded: a restarted edge that
// finds a running process recorded for a release its desired state no
// longer names (a stale warm pool) ends it instead of leaving it holding a
// port, and still serves the live release.
func TestARecordedProcessOfAnUnwantedReleaseIsEnded(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	cl := dial(t, data)
	url, pids := deployApp(t, cl, data, "7", 41, "v1", 1)
	e.kill()
	// The state file says the process belongs to release 99, which
	// nothing describes.
	path := filepath.Join(data, "run", "edge-state.json")
	b, _ := os.ReadFile(path)
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	pools := raw["envs"].(map[string]any)["7"].(map[string]any)["pools"].(map[string]any)
	pools["99"], pools["41"] = pools["41"], []any{}
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e2 := startEdge(t, data)
	cl2 := dial(t, data)
	testkit.Eventually(t, 20*time.Second, func() bool { return zombie(pids[0]) || syscall.Kill(pids[0], 0) != nil }, "the stray process to end")
	testkit.Eventually(t, 20*time.Second, func() bool {
		st := cl2.Status("7")
		return st.Live != nil && st.Live.State == deploy.StateHealthy && st.Live.PID != pids[0]
	}, "release 41 served by a new process")
	if got := get(t, url); got != "v1" {
		t.Errorf("through the restarted edge: %q", got)
	}
	if !strings.Contains(e2.output(), "ending a process of a release nothing wants any more") {
		t.Errorf("the edge does not say it ended the stray process:\n%s", e2.output())
	}
}

// TestAFailedReleaseIsNotTriedAgainBehindThePortalsBack: once a release's
// rollout failed, a later change of the desired state that still lists it
// (a portal that died before taking it out, then an unrelated update) does
// not start it again; listing it anew does.
func TestAFailedReleaseIsNotTriedAgainBehindThePortalsBack(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	ctx := context.Background()
	bad := edge.Release{ID: 43, Dir: releaseDir(t, data), Command: "exec " + appBin, HealthPath: "/healthz",
		Vars: map[string]string{"EXIT_AT_ONCE": "1"}}
	gen, err := cl.Put(ctx, edge.Desired{Env: "7", Live: 43, Releases: []edge.Release{bad}})
	if err != nil {
		t.Fatal(err)
	}
	var first edge.Failure
	testkit.Eventually(t, 20*time.Second, func() bool {
		st, _, err := cl.EnvStatus(ctx, "7")
		if err != nil || len(st.Failed) != 1 || st.Busy {
			return false
		}
		first = st.Failed[0]
		return true
	}, "the rollout of release 43 to fail")
	if _, err := cl.Put(ctx, edge.Desired{Env: "7", Generation: gen, EdgeAddr: "127.0.0.1:0", Live: 43, Releases: []edge.Release{bad}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	st, _, err := cl.EnvStatus(ctx, "7")
	if err != nil || st.Busy || len(st.Failed) != 1 || !st.Failed[0].At.Equal(first.At) {
		t.Fatalf("after an unrelated change: %+v %v, want the same failure and no new attempt", st, err)
	}
	// Taken out and listed anew: tried again.
	ds, _ := cl.Desired(ctx, "7")
	ds.Live, ds.Releases = 0, nil
	if _, err := cl.Put(ctx, ds); err != nil {
		t.Fatal(err)
	}
	ds, _ = cl.Desired(ctx, "7")
	ds.Live, ds.Releases = 43, []edge.Release{bad}
	if _, err := cl.Put(ctx, ds); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		st, _, err := cl.EnvStatus(ctx, "7")
		return err == nil && !st.Busy && len(st.Failed) == 1 && st.Failed[0].At.After(first.At)
	}, "a second attempt once the release is listed anew")
}

// loadResult is what load reports.
type loadResult struct {
	sent, failed int
	first        string
}

// startLoad runs load on url at rate in the background; the function it
// returns stops it and reports.
func startLoad(url string, rate int) func() loadResult {
	stop := make(chan struct{})
	res := make(chan loadResult, 1)
	go func() {
		s, f, first := load(url, rate, stop)
		res <- loadResult{s, f, first}
	}()
	return func() loadResult {
		close(stop)
		return <-res
	}
}

// load sends rate requests per second to url until stop closes, and
// reports how many were sent and how many failed (an error or a non-200).
func load(url string, rate int, stop <-chan struct{}) (sent, failed int, firstErr string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			wg.Wait()
			return
		case <-tick.C:
		}
		sent++
		wg.Go(func() {
			resp, err := hc.Get(url)
			bad := ""
			if err != nil {
				bad = err.Error()
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad = resp.Status
				}
			}
			if bad != "" {
				mu.Lock()
				failed++
				if firstErr == "" {
					firstErr = bad
				}
				mu.Unlock()
			}
		})
	}
}

func TestAnUpgradeHandsTheListenersOverWithoutDroppingARequest(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	cl := dial(t, data)
	url, appPIDs := deployApp(t, cl, data, "7", 41, "v1", 2)

	finish := startLoad(url, 200)
	time.Sleep(time.Second)
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The old edge exits once the new one is ready and it has drained.
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the old edge did not exit after the upgrade:\n%s", e.output())
	}
	time.Sleep(time.Second)
	r := finish()
	if r.failed != 0 || r.sent < 300 {
		t.Errorf("%d of %d requests failed across the upgrade (first: %s)", r.failed, r.sent, r.first)
	}
	cl2 := dial(t, data)
	info := cl2.Info()
	if info.PID == e.cmd.Process.Pid || info.Adopted != 2 {
		t.Errorf("after the upgrade the socket is served by pid %d (old %d), adopted %d", info.PID, e.cmd.Process.Pid, info.Adopted)
	}
	if got := poolPIDs(t, cl2.Status("7"), 41); !slices.Equal(got, appPIDs) {
		t.Errorf("after the upgrade the pool runs pids %v, want the same %v", got, appPIDs)
	}
	t.Logf("%d requests at 200/s across the upgrade, %d failed", r.sent, r.failed)
}

// TestTheClientDrivesDeploysAndRollbacksLikeTheManager runs what the
// deploy job does through the client: a second release rolls out on a
// pool, the first pool stays warm and a rollback switches back to the
// same processes, all at once; a release that exits at once fails its
// rollout with its output (masked), the previous pool keeps serving, and
// nothing starts the failed release again behind the portal's back.
func TestTheClientDrivesDeploysAndRollbacksLikeTheManager(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	url, v1 := deployApp(t, cl, data, "7", 41, "v1", 2)
	_, v2 := deployApp(t, cl, data, "7", 42, "v2", 2)
	if got := get(t, url); got != "v2" {
		t.Fatalf("after the second deploy: %q", got)
	}
	st := cl.Status("7")
	var warm []int
	for _, w := range st.Warm {
		if w.ReleaseID == 41 {
			warm = append(warm, w.PID)
		}
	}
	slices.Sort(warm)
	if !slices.Equal(warm, slices.Sorted(slices.Values(v1))) {
		t.Fatalf("warm instances of release 41: %v, want pids %v", warm, v1)
	}
	if n, err := cl.SwitchWarm("7", 41); err != nil || n != 2 {
		t.Fatalf("rollback: %d %v, want the 2 warm instances", n, err)
	}
	if got := get(t, url); got != "v1" {
		t.Errorf("after the rollback: %q", got)
	}
	st = cl.Status("7")
	if got := poolPIDs(t, st, 41); !slices.Equal(got, v1) || st.Live == nil || st.Live.ReleaseID != 41 || len(st.Warm) != 2 {
		t.Errorf("after the rollback: pool %v, want release 41 live on pids %v and release 42 (%v) warm: %+v", got, v1, v2, st)
	}
	if _, err := cl.SwitchWarm("7", 77); !errors.Is(err, deploy.ErrNotWarm) {
		t.Errorf("switch to a release that never ran: %v, want ErrNotWarm", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Its output names a secret: the edge keeps it raw (it does not know
	// the secrets), the client masks it before anyone sees it.
	_, err := cl.Rollout(ctx, deploy.RolloutSpec{InstanceSpec: deploy.InstanceSpec{Env: "7", ReleaseID: 43, Dir: releaseDir(t, data), Command: "exec " + appBin,
		Vars: map[string]string{"EXIT_AT_ONCE": "1", "VERSION": "s3cret-value"}, HealthPath: "/healthz", Lines: maskWith("s3cret-value")}, Instances: 2}, nil)
	var se *deploy.StartError
	if !errors.As(err, &se) || !errors.Is(err, deploy.ErrExited) || !strings.Contains(strings.Join(se.Output, "\n"), "told to exit at once") {
		t.Fatalf("a release that exits at once: %v, want a StartError wrapping ErrExited with its output", err)
	}
	if out := strings.Join(se.Output, "\n"); strings.Contains(out, "s3cret") || !strings.Contains(out, "app **** starting") {
		t.Errorf("the failed start's output is not masked:\n%s", out)
	}
	if se.Exit != nil && strings.Contains(strings.Join(se.Exit.Lines, "\n"), "s3cret") {
		t.Errorf("the exit's lines are not masked: %v", se.Exit.Lines)
	}
	ds, err := cl.Desired(context.Background(), "7")
	if err != nil || ds.Live != 41 || slices.ContainsFunc(ds.Releases, func(r edge.Release) bool { return r.ID == 43 }) {
		t.Errorf("after the failed rollout the desired state is %+v %v, want release 41 live and 43 gone", ds, err)
	}
	if got := get(t, url); got != "v1" {
		t.Errorf("after the failed rollout: %q", got)
	}
	if got := poolPIDs(t, cl.Status("7"), 41); !slices.Equal(got, v1) {
		t.Errorf("after the failed rollout the pool runs %v, want the same %v", got, v1)
	}
}

// zombie reports whether pid has ended and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}

// maskWith splits lines and replaces secret with ****.
func maskWith(secret string) deploy.LineSplitter {
	return func(emit func(string)) io.WriteCloser {
		return &maskWriter{secret: secret, emit: emit}
	}
}

type maskWriter struct {
	secret string
	emit   func(string)
	buf    []byte
}

func (m *maskWriter) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	for {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		m.emit(strings.ReplaceAll(string(m.buf[:i]), m.secret, "****"))
		m.buf = m.buf[i+1:]
	}
}

func (m *maskWriter) Close() error {
	if len(m.buf) > 0 {
		m.emit(strings.ReplaceAll(string(m.buf), m.secret, "****"))
	}
	return nil
}
