package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/sandbox"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
)

// requireSandbox skips when bubblewrap cannot run here.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Available(t.Context()); err != nil {
		testpg.SkipOrFail(t, "no sandbox here: %v", err)
	}
}

// portalLayout is a data dir laid out as slipway serve lays it out: the
// secret key and the database next to the releases and the apps' work
// dirs.
type portalLayout struct {
	data, key, db, releases, work string
}

func newPortalLayout(t *testing.T) portalLayout {
	t.Helper()
	data := t.TempDir()
	l := portalLayout{data: data, key: filepath.Join(data, "secret.key"), db: filepath.Join(data, "slipway.db"),
		releases: filepath.Join(data, "releases"), work: filepath.Join(data, "appdata")}
	if err := os.WriteFile(l.key, []byte("portal-secret-key-material"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.db, []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

// release unpacks a release holding bin/app (the test app) and
// static/index.html under the layout's releases dir.
func (l portalLayout) release(t testing.TB, digest string) string {
	t.Helper()
	dir := filepath.Join(l.releases, digest)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "index.html"), []byte(digest), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(appBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "app"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (l portalLayout) manager(t *testing.T, mode SandboxMode) *Manager {
	opts := testOptions()
	opts.ReleasesDir, opts.WorkDir, opts.Sandbox = l.releases, l.work, mode
	return newTestManager(t, opts)
}

// try is a shell snippet that prints "<what>: yes" when cmd succeeds and
// "<what>: no" when it fails.
func try(what, cmd string) string {
	return fmt.Sprintf(`if %s >/dev/null 2>&1; then echo "%s: yes"; else echo "%s: no"; fi; `, cmd, what, what)
}

// TestAppCannotTakeOverThePortal runs a hostile app: it reads the secret
// key, the portal's environment and another environment's files, and
// writes the database. In the sandbox each attempt must fail; without
// one (SLIPWAY_SANDBOX=off, and every deploy before the sandbox) each
// succeeds, which the "off" case shows.
func TestAppCannotTakeOverThePortal(t *testing.T) {
	requireSandbox(t)
	for _, tc := range []struct {
		mode SandboxMode
		want string
	}{
		{SandboxAuto, "no"},
		{SandboxOff, "yes"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			l := newPortalLayout(t)
			m := l.manager(t, tc.mode)
			rel := l.release(t, "sha-1")

			// Staging's work dir holds a file of its own.
			staging := m.WorkDir("proj/staging")
			if err := os.MkdirAll(staging, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(staging, "staging.db"), []byte("staging data"), 0o600); err != nil {
				t.Fatal(err)
			}
			attacks := map[string]string{
				"read secret key":      "cat " + l.key,
				"read portal environ":  fmt.Sprintf("grep -q PATH= /proc/%d/environ", os.Getpid()),
				"write database":       "sh -c 'echo pwned >> " + l.db + "'",
				"read other env files": "cat " + filepath.Join(staging, "staging.db"),
				"write the release":    "touch static/pwned",
			}
			script := ""
			for what, cmd := range attacks {
				script += try(what, cmd)
			}
			out := &lineLog{}
			spec := InstanceSpec{Env: "proj/dev", ReleaseID: 1, Dir: rel, Command: script + "exec ./bin/app",
				Vars: map[string]string{"VERSION": "v1"}, HealthPath: "/healthz"}
			inst, err := m.StartInstance(context.Background(), spec, out.add)
			if err != nil {
				t.Fatal(err)
			}
			wantBody(t, fmt.Sprintf("http://127.0.0.1:%d/", inst.Port()), "v1")
			for what := range attacks {
				if want := what + ": " + tc.want; !slices.Contains(out.all(), want) {
					t.Errorf("want %q; app output:\n%s", want, strings.Join(out.all(), "\n"))
				}
			}
			if tc.mode == SandboxOff {
				return
			}
			if b, _ := os.ReadFile(l.db); strings.Contains(string(b), "pwned") {
				t.Error("the app wrote the database")
			}
			if _, err := os.Stat(filepath.Join(rel, "static", "pwned")); err == nil {
				t.Error("the app wrote its release")
			}
		})
	}
}

// TestEnvironmentsHaveTheirOwnWorkDir: a file the app writes in dev stays
// in dev (and survives a restart there); staging, running the same
// artifact, does not see it.
func TestEnvironmentsHaveTheirOwnWorkDir(t *testing.T) {
	requireSandbox(t)
	for _, mode := range []SandboxMode{SandboxAuto, SandboxOff} {
		t.Run(string(mode), func(t *testing.T) {
			l := newPortalLayout(t)
			m := l.manager(t, mode)
			rel := l.release(t, "sha-1")
			script := `if [ -f app.db ]; then echo "found: $(cat app.db)"; else echo "no app.db"; fi; ` +
				`echo "$SLIPWAY_ENVIRONMENT" > app.db; echo "static: $(cat static/index.html)"; exec ./bin/app`
			start := func(env string, id int64) (*Instance, *lineLog) {
				out := &lineLog{}
				inst, err := m.StartInstance(context.Background(), InstanceSpec{Env: env, ReleaseID: id, Dir: rel, Command: script,
					Vars: map[string]string{"VERSION": env, "SLIPWAY_ENVIRONMENT": env}, HealthPath: "/healthz"}, out.add)
				if err != nil {
					t.Fatalf("start %s: %v", env, err)
				}
				return inst, out
			}
			dev, out := start("proj/dev", 1)
			if got := out.all(); !slices.Contains(got, "no app.db") || !slices.Contains(got, "static: sha-1") {
				t.Fatalf("dev's first start printed %q", got)
			}
			_, out = start("proj/staging", 2)
			if got := out.all(); !slices.Contains(got, "no app.db") {
				t.Fatalf("staging saw dev's file: %q", got)
			}
			if err := m.Stop(context.Background(), dev); err != nil {
				t.Fatal(err)
			}
			_, out = start("proj/dev", 3)
			if got := out.all(); !slices.Contains(got, "found: proj/dev") {
				t.Fatalf("dev's file did not survive a restart: %q", got)
			}
			if b, err := os.ReadFile(filepath.Join(m.WorkDir("proj/dev"), "app.db")); err != nil || string(b) != "proj/dev\n" {
				t.Fatalf("dev's work dir holds %q, %v", b, err)
			}
		})
	}
}

func TestSandboxRequiredWithoutBwrapRefusesToStart(t *testing.T) {
	l := newPortalLayout(t)
	t.Setenv("PATH", t.TempDir()) // no bwrap on the PATH
	m := l.manager(t, SandboxRequired)
	rel := l.release(t, "sha-1")
	_, err := m.StartInstance(context.Background(), InstanceSpec{Env: "proj/dev", ReleaseID: 1, Dir: rel,
		Command: "exec ./bin/app", HealthPath: "/healthz"}, nil)
	if err == nil || !strings.Contains(err.Error(), "sandbox required") {
		t.Fatalf("StartInstance = %v, want a sandbox-required error", err)
	}
	if _, notice, _ := l.manager(t, SandboxAuto).Sandbox(); !strings.Contains(notice, "without a sandbox") {
		t.Errorf("auto mode without bwrap: notice %q", notice)
	}
}

// TestAppForkBombIsBounded: an app that forks 300 processes hits the
// per-app process limit (64 here) before it gets there.
func TestAppForkBombIsBounded(t *testing.T) {
	requireSandbox(t)
	lim, _ := sandbox.NewLimit("probe", 1)
	method := lim.Method()
	lim.Close()
	if method != sandbox.MethodCgroupV1 && method != sandbox.MethodCgroupV2 {
		testpg.SkipOrFail(t, "no pids cgroup here (%s); RLIMIT_NPROC does not bound root", method)
	}
	for _, mode := range []SandboxMode{SandboxAuto, SandboxOff} {
		t.Run(string(mode), func(t *testing.T) {
			l := newPortalLayout(t)
			opts := testOptions()
			opts.ReleasesDir, opts.WorkDir, opts.MaxProcs, opts.Sandbox = l.releases, l.work, 64, mode
			m := newTestManager(t, opts)
			rel := l.release(t, "sha-1")
			out := &lineLog{}
			inst, err := m.StartInstance(context.Background(), InstanceSpec{Env: "proj/dev", ReleaseID: 1, Dir: rel, HealthPath: "/healthz",
				Command: `i=0; while [ $i -lt 300 ]; do sleep 600 & i=$((i+1)); done; echo "all forked"; exec ./bin/app`}, out.add)
			if err == nil {
				defer m.Stop(context.Background(), inst)
			}
			if slices.Contains(out.all(), "all forked") {
				t.Fatalf("300 processes forked under a limit of 64 (start: %v)", err)
			}
			if !errors.Is(err, ErrExited) {
				t.Fatalf("start = %v, want the app to exit when its fork failed", err)
			}
			testkit.Eventually(t, 20*time.Second, func() bool { return countSleeps("600") == 0 }, "the bomb's processes to be gone")
		})
	}
}

// countSleeps counts live "sleep <arg>" processes.
func countSleeps(arg string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == "sleep\x00"+arg+"\x00" {
			if _, st, ok := procStat(e.Name()); ok && st != 'Z' {
				n++
			}
		}
	}
	return n
}

// startPortal runs a portal process (runPortal) with env and returns it
// with the pid of its app.
func startPortal(t *testing.T, env ...string) (*exec.Cmd, int) {
	t.Helper()
	portal := exec.Command(os.Args[0], "-test.run=^$")
	portal.Env = append(os.Environ(), append([]string{"DEPLOY_TEST_PORTAL_APP=" + appBin}, env...)...)
	stdout, err := portal.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := portal.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = portal.Process.Kill(); _ = portal.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("portal said %q: %v", line, err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil || pid == 0 || processGone(pid) {
		t.Fatalf("portal said %q", line)
	}
	go io.Copy(io.Discard, stdout)
	return portal, pid
}

// TestNothingOutlivesAKilledPortal kills a portal with SIGKILL while its
// app runs with a forked child that left nothing but its pid behind. In
// the sandbox the child dies with the portal; without one it survives
// (Pdeathsig reaches only the direct child) until the next portal's
// ReapOrphans ends it.
func TestNothingOutlivesAKilledPortal(t *testing.T) {
	requireSandbox(t)
	for _, mode := range []SandboxMode{SandboxAuto, SandboxOff} {
		t.Run(string(mode), func(t *testing.T) {
			l := newPortalLayout(t)
			rel := l.release(t, "sha-1")
			state := filepath.Join(l.data, "run", "apps.json")
			marker := strconv.Itoa(100000 + rand.IntN(800000))
			t.Cleanup(func() { killSleeps(marker) })
			portal, pid := startPortal(t, "DEPLOY_TEST_PORTAL_DIR="+rel, "DEPLOY_TEST_PORTAL_WORK="+l.work,
				"DEPLOY_TEST_PORTAL_STATE="+state, "DEPLOY_TEST_PORTAL_SANDBOX="+string(mode),
				"DEPLOY_TEST_PORTAL_CMD=(sleep "+marker+" &) ; exec ./bin/app")
			testkit.Eventually(t, 20*time.Second, func() bool { return countSleeps(marker) == 1 }, "the app's child")
			if err := portal.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = portal.Wait()
			testkit.Eventually(t, 20*time.Second, func() bool { return processGone(pid) }, "the app to die with its portal")
			if mode != SandboxOff {
				testkit.Eventually(t, 20*time.Second, func() bool { return countSleeps(marker) == 0 }, "the app's child to die with its portal")
				return
			}
			time.Sleep(200 * time.Millisecond)
			if countSleeps(marker) != 1 {
				t.Fatal("without a sandbox the child should have survived the portal (the test would prove nothing)")
			}
			m := NewManager(Options{StateFile: state})
			n, err := m.ReapOrphans()
			if err != nil || n != 1 {
				t.Fatalf("ReapOrphans = %d, %v; want 1", n, err)
			}
			testkit.Eventually(t, 20*time.Second, func() bool { return countSleeps(marker) == 0 }, "the orphan to be reaped")
			if n, _ := m.ReapOrphans(); n != 0 {
				t.Errorf("a second ReapOrphans found %d groups", n)
			}
		})
	}
}

func killSleeps(arg string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == "sleep\x00"+arg+"\x00" {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}
