package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testpg"
)

func itoa(n int) string { return strconv.Itoa(n) }

// requireCgroup skips unless NewLimit gets a cgroup here.
func requireCgroup(t *testing.T, l *Limit) {
	t.Helper()
	if l.Method() != MethodCgroupV1 && l.Method() != MethodCgroupV2 {
		testpg.SkipOrFail(t, "no writable pids cgroup here (method %s)", l.Method())
	}
}

// A bounded fork bomb: 3000 background sleeps against a limit of 64. The
// shell stops at the first fork that fails (set -e), the limit reports
// that it was hit, and Close leaves no process and no cgroup behind.
func TestLimitStopsAForkBomb(t *testing.T) {
	l, err := NewLimit("test-bomb", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	requireCgroup(t, l)
	dir := l.dir
	if b, err := os.ReadFile(filepath.Join(dir, "pids.max")); err != nil || strings.TrimSpace(string(b)) != "64" {
		t.Fatalf("pids.max = %q, %v", b, err)
	}
	argv := l.Wrap([]string{"/bin/sh", "-ec", `i=0; while [ $i -lt 3000 ]; do sleep 60 >/dev/null 2>&1 & i=$((i+1)); done; echo all started`})
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + SystemPath}
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "all started") {
		t.Fatalf("3000 processes started under a limit of 64: %v\n%s", err, out)
	}
	if !l.Hit() {
		t.Fatal("Hit() = false after a refused fork")
	}
	pids, _ := cgroupPids(dir)
	if len(pids) == 0 {
		t.Fatal("the sleeps left behind are not in the cgroup")
	}
	if len(pids) > 64 {
		t.Fatalf("%d processes in a cgroup limited to 64", len(pids))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there after Close: %v", dir, err)
	}
	for _, pid := range pids {
		if err := syscallKill0(pid); err == nil {
			if st, _ := os.ReadFile("/proc/" + itoa(pid) + "/stat"); strings.Contains(string(st), " Z ") {
				continue // a zombie waiting for its reaper is dead
			}
			t.Fatalf("process %d of the fork bomb survived Close", pid)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWrapPutsTheFirstProcessInTheCgroup(t *testing.T) {
	l, err := NewLimit("test-join", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	requireCgroup(t, l)
	argv := l.Wrap([]string{"/bin/sh", "-c", "cat /proc/self/cgroup"})
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), filepath.Base(l.dir)) {
		t.Fatalf("process is not in %s:\n%s", l.dir, out)
	}
}

func TestLimitInsideTheSandbox(t *testing.T) {
	requireBwrap(t)
	l, err := NewLimit("test-bwrap", 32)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	requireCgroup(t, l)
	argv := l.Wrap(Spec{DieWithParent: true}.Argv([]string{"/bin/sh", "-ec", `i=0; while [ $i -lt 500 ]; do sleep 60 & i=$((i+1)); done; echo all started`}))
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + SystemPath}
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "all started") {
		t.Fatalf("500 processes started in the sandbox under a limit of 32: %v\n%s", err, out)
	}
	if !l.Hit() {
		t.Fatal("Hit() = false")
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %s", time.Since(start))
}

func TestSweepRemovesOnlyDeadProcessesEmptyCgroups(t *testing.T) {
	probe, err := NewLimit("test-probe", 5)
	if err != nil {
		t.Fatal(err)
	}
	requireCgroup(t, probe)
	parent := filepath.Dir(probe.dir)
	probe.Close()
	// A cgroup of a process that is gone, as a crash leaves it.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(parent, cgroupPrefix+itoa(dead.Process.Pid)+"-test-left-0000")
	if err := os.Mkdir(left, 0o755); err != nil {
		t.Fatal(err)
	}
	defer syscall.Rmdir(left)
	// This process's own, empty: about to be joined by a run.
	mine, err := NewLimit("test-mine", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	Sweep()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("empty cgroup %s of a dead process was not swept", left)
	}
	if _, err := os.Stat(mine.dir); err != nil {
		t.Fatalf("the cgroup of a live process was swept: %v", err)
	}
}

func TestNewLimitRefusesANonPositiveMax(t *testing.T) {
	if _, err := NewLimit("x", 0); err == nil {
		t.Fatal("NewLimit(0) succeeded")
	}
}

func TestRlimitNoticeSaysRootIsNotBounded(t *testing.T) {
	l := &Limit{max: 100, method: MethodRlimit, prlimit: "/usr/bin/prlimit"}
	got := l.Notice()
	if os.Geteuid() == 0 && !strings.Contains(got, "not enforce") {
		t.Fatalf("notice for root: %q", got)
	}
	argv := l.Wrap([]string{"true"})
	if strings.Join(argv, " ") != "/usr/bin/prlimit --nproc=100:100 -- true" {
		t.Fatalf("argv %q", argv)
	}
}

func syscallKill0(pid int) error { return syscall.Kill(pid, 0) }
