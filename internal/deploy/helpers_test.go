package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// appBin is the test app, built once per test binary by TestMain.
var appBin string

func TestMain(m *testing.M) {
	if app := os.Getenv("DEPLOY_TEST_PORTAL_APP"); app != "" {
		os.Exit(runPortal(app))
	}
	os.Exit(runTests(m))
}

// runPortal plays a portal for TestAppsDieWithThePortal: it starts the app
// at path, prints its pid, and waits to be killed.
// DEPLOY_TEST_PORTAL_WORK, _STATE and _SANDBOX set Options.WorkDir,
// StateFile and Sandbox; DEPLOY_TEST_PORTAL_CMD replaces the command.
func runPortal(path string) int {
	m := NewManager(Options{WorkDir: os.Getenv("DEPLOY_TEST_PORTAL_WORK"), StateFile: os.Getenv("DEPLOY_TEST_PORTAL_STATE"),
		Sandbox: SandboxMode(os.Getenv("DEPLOY_TEST_PORTAL_SANDBOX"))})
	command := "exec " + path
	if c := os.Getenv("DEPLOY_TEST_PORTAL_CMD"); c != "" {
		command = c
	}
	inst, err := m.StartInstance(context.Background(), InstanceSpec{
		Env: "proj/dev", ReleaseID: 1, Dir: os.Getenv("DEPLOY_TEST_PORTAL_DIR"), Command: command, HealthPath: "/healthz",
	}, nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("pid %d\n", inst.PID())
	select {}
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "slipway-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	appBin = filepath.Join(dir, "app")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-o", appBin, "./testdata/app")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test app: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// testOptions are quick defaults for tests; each test overrides what it checks.
func testOptions() Options {
	return Options{
		DrainTimeout:      5 * time.Second,
		HealthTimeout:     20 * time.Second,
		StopTimeout:       5 * time.Second,
		RestartBackoffMin: 20 * time.Millisecond,
		RestartBackoffMax: 200 * time.Millisecond,
	}
}

// newTestManager returns a manager that is closed when the test ends; the
// close must leave no process behind.
func newTestManager(t testing.TB, opts Options) *Manager {
	t.Helper()
	m := NewManager(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return m
}

// appSpec runs the test app as release id answering version.
func appSpec(t testing.TB, env string, id int64, version string, vars ...string) InstanceSpec {
	t.Helper()
	v := map[string]string{"VERSION": version}
	for _, kv := range vars {
		k, val, _ := strings.Cut(kv, "=")
		v[k] = val
	}
	return InstanceSpec{
		Env:        env,
		ReleaseID:  id,
		Dir:        t.TempDir(),
		Command:    "exec " + appBin,
		Vars:       v,
		HealthPath: "/healthz",
	}
}

// startApp starts a release that must become healthy.
func startApp(t testing.TB, m *Manager, spec InstanceSpec) *Instance {
	t.Helper()
	inst, err := m.StartInstance(context.Background(), spec, nil)
	if err != nil {
		t.Fatalf("start release %d: %v", spec.ReleaseID, err)
	}
	return inst
}

// get fetches url and returns the status code and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// wantBody asserts that url answers 200 with body.
func wantBody(t testing.TB, url, body string) {
	t.Helper()
	code, got := get(t, url)
	if code != http.StatusOK || got != body {
		t.Fatalf("GET %s = %d %q, want 200 %q", url, code, got, body)
	}
}

// processGone reports whether pid no longer runs (a zombie left to an init
// that does not reap counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	_, state, ok := procStat(strconv.Itoa(pid))
	return !ok || state == 'Z' || state == 'X'
}

// lineLog collects output lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// childPID returns the pid in a "child <pid>" line, or 0.
func (l *lineLog) childPID() int {
	for _, s := range l.all() {
		if rest, ok := strings.CutPrefix(s, "child "); ok {
			pid, _ := strconv.Atoi(rest)
			return pid
		}
	}
	return 0
}

// eventLog collects events from Options.OnEvent.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) find(kind EventKind, release int64) (Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.Kind == kind && ev.ReleaseID == release {
			return ev, true
		}
	}
	return Event{}, false
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }
