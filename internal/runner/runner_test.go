package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/internal/testpg"
)

// recorder is a Sink that keeps everything and notices concurrent calls.
type recorder struct {
	inside     atomic.Int32
	concurrent atomic.Bool

	mu       sync.Mutex
	started  []int
	lines    []line
	finished map[int]StepResult
	order    []string
	onLine   func(line)
}

type line struct {
	step   int
	stream string
	text   string
	at     time.Time
}

func newRecorder() *recorder { return &recorder{finished: map[int]StepResult{}} }

func (r *recorder) enter() func() {
	if r.inside.Add(1) > 1 {
		r.concurrent.Store(true)
	}
	return func() { r.inside.Add(-1) }
}

func (r *recorder) StepStarted(i int, name string) {
	defer r.enter()()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, i)
	r.order = append(r.order, fmt.Sprintf("start %d %s", i, name))
}

func (r *recorder) Line(i int, stream, text string, at time.Time) {
	defer r.enter()()
	r.mu.Lock()
	l := line{i, stream, text, at}
	r.lines = append(r.lines, l)
	f := r.onLine
	r.mu.Unlock()
	if f != nil {
		f(l)
	}
}

func (r *recorder) StepFinished(i int, res StepResult) {
	defer r.enter()()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished[i] = res
	r.order = append(r.order, fmt.Sprintf("finish %d %s", i, res.Status))
}

// text returns the lines of one step and stream, in order.
func (r *recorder) text(step int, stream string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if l.step == step && l.stream == stream {
			out = append(out, l.text)
		}
	}
	return out
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		fmt.Fprintf(&b, "%d %s: %s\n", l.step, l.stream, l.text)
	}
	return b.String()
}

// workspace makes an empty workspace in its own parent dir.
func workspace(t *testing.T) string {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	return ws
}

// eachMode runs f without a sandbox, and in the sandbox when this
// machine has a working bwrap.
func eachMode(t *testing.T, f func(t *testing.T, mode SandboxMode)) {
	t.Run("without a sandbox", func(t *testing.T) { f(t, SandboxOff) })
	t.Run("in the sandbox", func(t *testing.T) {
		requireSandbox(t)
		f(t, SandboxRequired)
	})
}

func requireSandbox(t *testing.T) {
	t.Helper()
	if err := probeSandbox(t.Context()); err != nil {
		testpg.SkipOrFail(t, "bubblewrap sandbox: %v", err)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// liveWithArg lists live processes whose command line contains arg as a
// whole argument (tests start "sleep <unique number>").
func liveWithArg(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(append([]byte{0}, cmdline...), []byte("\x00"+arg+"\x00")) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:]); len(f) > 0 && string(f[0]) != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// uniqueSleep returns a sleep duration no other test uses, to find its
// processes in /proc.
var sleepSeq atomic.Int64

func uniqueSleep() string {
	return strconv.FormatInt(900000+int64(os.Getpid()%1000)*100+sleepSeq.Add(1), 10)
}

func TestRunSucceeds(t *testing.T) {
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		ws := workspace(t)
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{
			Workspace: ws,
			Sandbox:   mode,
			Steps: []Step{
				{Name: "hello", Run: "echo hello; echo oops >&2; echo done > out.txt"},
				{Name: "second", Run: "cat out.txt; pwd"},
			},
		}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusSucceeded || len(res.Steps) != 2 {
			t.Fatalf("result %+v, want succeeded with two steps\n%s", res, rec.all())
		}
		for i, s := range res.Steps {
			if s.Status != StatusSucceeded || s.ExitCode != 0 || s.Duration <= 0 {
				t.Fatalf("step %d = %+v", i, s)
			}
		}
		want := []string{"start 0 hello", "finish 0 succeeded", "start 1 second", "finish 1 succeeded"}
		if strings.Join(rec.order, ",") != strings.Join(want, ",") {
			t.Fatalf("sink calls %v, want %v", rec.order, want)
		}
		if got := rec.text(0, StreamStdout); !contains(got, "hello") {
			t.Fatalf("stdout of step 0 = %q", got)
		}
		if got := rec.text(0, StreamStderr); !contains(got, "oops") {
			t.Fatalf("stderr of step 0 = %q", got)
		}
		wantWD := ws
		if mode != SandboxOff {
			wantWD = SandboxWorkspace
		}
		if got := rec.text(1, StreamStdout); len(got) != 2 || got[0] != "done" || got[1] != wantWD {
			t.Fatalf("stdout of step 1 = %q, want done and %s", got, wantWD)
		}
		for _, l := range rec.lines {
			if l.at.IsZero() {
				t.Fatal("a line has no timestamp")
			}
		}
		if rec.concurrent.Load() {
			t.Fatal("the sink was called concurrently")
		}
	})
}

func TestFailingStepStopsTheBuild(t *testing.T) {
	ws := workspace(t)
	rec := newRecorder()
	res, err := Run(t.Context(), Spec{
		Workspace: ws,
		Sandbox:   SandboxOff,
		Steps: []Step{
			{Name: "ok", Run: "true"},
			{Name: "fails", Run: "echo before; exit 3; echo after"},
			{Name: "never", Run: "touch ran"},
		},
	}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusFailed {
		t.Fatalf("status %q, want failed", res.Status)
	}
	if s := res.Steps[1]; s.Status != StatusFailed || s.ExitCode != 3 || s.Err != "exit code 3" {
		t.Fatalf("failing step = %+v", s)
	}
	if s := res.Steps[2]; s.Status != StatusSkipped {
		t.Fatalf("last step = %+v, want skipped", s)
	}
	if rec.finished[2].Status != StatusSkipped || contains(rec.order, "start 2 never") {
		t.Fatalf("sink: %v, want step 2 only finished as skipped", rec.order)
	}
	if _, err := os.Stat(filepath.Join(ws, "ran")); err == nil {
		t.Fatal("a skipped step ran")
	}
	if got := rec.text(1, StreamStdout); contains(got, "after") || !contains(got, "before") {
		t.Fatalf("sh -e did not stop at the failure: %q", got)
	}
}

func TestErrexitStopsAtFirstFailingCommand(t *testing.T) {
	rec := newRecorder()
	res, _ := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxOff,
		Steps: []Step{{Name: "e", Run: "false\necho unreachable"}}}, rec)
	if res.Status != StatusFailed || res.Steps[0].ExitCode != 1 || contains(rec.text(0, StreamStdout), "unreachable") {
		t.Fatalf("result %+v, output %q", res, rec.text(0, StreamStdout))
	}
}

func TestCommandNotFound(t *testing.T) {
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: mode,
			Steps: []Step{{Name: "typo", Run: "no-such-command-slipway"}}}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Steps[0]; s.Status != StatusFailed || s.ExitCode != 127 {
			t.Fatalf("step = %+v, want failed with 127", s)
		}
		if got := rec.text(0, StreamSystem); !contains(got, "command not found (exit 127)") {
			t.Fatalf("system lines %q", got)
		}
	})
}

func TestEnvironmentIsClean(t *testing.T) {
	t.Setenv("SLIPWAY_PORTAL_ONLY", "portal-secret-value")
	t.Setenv("DATABASE_URL", "postgres://leak")
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		ws := workspace(t)
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{
			Workspace: ws,
			Sandbox:   mode,
			Env:       map[string]string{"SLIPWAY_BUILD_ID": "42", "GOFLAGS": "-mod=mod", "SHADOWED": "build"},
			Secrets:   map[string]string{"API_TOKEN": "tok-12345"},
			Steps: []Step{{Name: "env", Run: `env | sort; test -d "$HOME"; test -w "$HOME"; echo "home=$HOME"`,
				Env: map[string]string{"STEP_VAR": "x", "SHADOWED": "step"}}},
		}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusSucceeded {
			t.Fatalf("status %q\n%s", res.Status, rec.all())
		}
		out := rec.text(0, StreamStdout)
		vars := map[string]string{}
		for _, l := range out {
			if k, v, ok := strings.Cut(l, "="); ok {
				vars[k] = v
			}
		}
		for k, want := range map[string]string{
			"PATH":             stepPath,
			"LANG":             "C.UTF-8",
			"CI":               "true",
			"SLIPWAY_BUILD_ID": "42",
			"GOFLAGS":          "-mod=mod",
			"STEP_VAR":         "x",
			"SHADOWED":         "step",
			"API_TOKEN":        Mask, // present, and masked in the log
		} {
			if vars[k] != want {
				t.Errorf("%s = %q, want %q", k, vars[k], want)
			}
		}
		for _, k := range []string{"SLIPWAY_PORTAL_ONLY", "DATABASE_URL", "USER", "TMPDIR", "GOPATH"} {
			if _, ok := vars[k]; ok {
				t.Errorf("the portal's %s leaked into the step", k)
			}
		}
		home := vars["HOME"]
		if mode == SandboxOff {
			if filepath.Dir(home) != filepath.Dir(ws) || !strings.HasPrefix(filepath.Base(home), ".slipway-home-") {
				t.Errorf("HOME = %q, want a fresh dir beside the workspace %q", home, ws)
			}
		} else if home != SandboxHome {
			t.Errorf("HOME = %q in the sandbox, want %s", home, SandboxHome)
		}
		if vars["GOMODCACHE"] != home+"/go/pkg/mod" || vars["npm_config_cache"] != home+"/.npm" {
			t.Errorf("GOMODCACHE = %q, npm_config_cache = %q: not under HOME %q", vars["GOMODCACHE"], vars["npm_config_cache"], home)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(ws), ".slipway-home-*")); len(left) != 0 {
			t.Errorf("HOME %v was not removed after the build", left)
		}
	})
}

func TestSecretsAreMaskedInStepOutput(t *testing.T) {
	const secret = "s3cr3t-deploy-key"
	rec := newRecorder()
	res, err := Run(t.Context(), Spec{
		Workspace: workspace(t),
		Sandbox:   SandboxOff,
		Secrets:   map[string]string{"DEPLOY_KEY": secret, "SHORT": "abc"},
		Steps: []Step{{Name: "leaky", Run: `
echo "plain $DEPLOY_KEY"
printf %s "$DEPLOY_KEY" | base64
echo "$DEPLOY_KEY" | base64
printf %s "$DEPLOY_KEY" | base64 | tr '+/' '-_' | tr -d '='
echo "$DEPLOY_KEY" >&2
echo "short $SHORT"
`}},
	}, rec)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run = %+v, %v\n%s", res, err, rec.all())
	}
	all := rec.all()
	for _, leak := range []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte(secret + "\n")),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
	} {
		if strings.Contains(all, leak) {
			t.Errorf("output leaks %q:\n%s", leak, all)
		}
	}
	if n := strings.Count(all, Mask); n != 5 {
		t.Errorf("%d masks, want 5:\n%s", n, all)
	}
	if !contains(rec.text(0, StreamStdout), "short abc") {
		t.Errorf("a 3-byte secret was masked:\n%s", all)
	}
}

func TestBinaryOutputAndAHugeLine(t *testing.T) {
	rec := newRecorder()
	res, err := Run(t.Context(), Spec{
		Workspace: workspace(t),
		Sandbox:   SandboxOff,
		Steps: []Step{
			{Name: "huge", Run: "head -c 5000000 /dev/zero | tr '\\0' a; echo; echo after"},
			{Name: "binary", Run: "head -c 65536 /dev/urandom; echo; echo survived"},
		},
	}, rec)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	huge := rec.text(0, StreamStdout)
	if huge[len(huge)-1] != "after" {
		t.Fatalf("last line %q, want after", huge[len(huge)-1])
	}
	total := 0
	for _, l := range huge[:len(huge)-1] {
		if len(l) > DefaultMaxLineBytes {
			t.Fatalf("a record of %d bytes", len(l))
		}
		if strings.Trim(l, "a") != "" {
			t.Fatal("a piece holds something other than the line")
		}
		total += len(l)
	}
	if total != 5000000 {
		t.Fatalf("%d bytes of the huge line arrived, want 5000000", total)
	}
	bin := rec.text(1, StreamStdout)
	if bin[len(bin)-1] != "survived" {
		t.Fatalf("output after binary data lost: %q", bin[len(bin)-1])
	}
	for _, l := range bin {
		if strings.IndexByte(l, 0) >= 0 || !utf8.ValidString(l) {
			t.Fatalf("a NUL byte or invalid UTF-8 reached the sink: %q", l)
		}
	}
}

func TestStepTimeoutKillsTheWholeTree(t *testing.T) {
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		tests := []struct {
			name, script string
		}{
			{"a shell waiting on background sleeps", "sleep %[1]s & sleep %[1]s & echo started; sleep %[1]s"},
			{"processes that ignore SIGTERM", "trap '' TERM; sleep %[1]s & echo started; sleep %[1]s"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				marker := uniqueSleep()
				rec := newRecorder()
				res, err := Run(t.Context(), Spec{
					Workspace: workspace(t),
					Sandbox:   mode,
					Steps: []Step{
						{Name: "hang", Run: fmt.Sprintf(tt.script, marker), Timeout: 300 * time.Millisecond},
						{Name: "after", Run: "true"},
					},
				}, rec)
				if err != nil {
					t.Fatal(err)
				}
				if pids := liveWithArg(marker); len(pids) > 0 {
					t.Fatalf("processes survived the timeout: %v", pids)
				}
				if res.Status != StatusTimedOut || res.Steps[0].Status != StatusTimedOut || res.Steps[1].Status != StatusSkipped {
					t.Fatalf("result %+v", res)
				}
				if got := rec.text(0, StreamSystem); !contains(got, "timed out after 300ms") {
					t.Fatalf("system lines %q", got)
				}
			})
		}
	})
}

func TestBuildTimeout(t *testing.T) {
	marker := uniqueSleep()
	rec := newRecorder()
	res, err := Run(t.Context(), Spec{
		Workspace:    workspace(t),
		Sandbox:      SandboxOff,
		BuildTimeout: 300 * time.Millisecond,
		Steps: []Step{
			{Name: "slow", Run: "sleep " + marker, Timeout: time.Hour},
			{Name: "never", Run: "true"},
		},
	}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusTimedOut || res.Steps[1].Status != StatusSkipped {
		t.Fatalf("result %+v", res)
	}
	if got := rec.text(0, StreamSystem); !contains(got, "build timed out after 300ms") {
		t.Fatalf("system lines %q", got)
	}
	if pids := liveWithArg(marker); len(pids) > 0 {
		t.Fatalf("processes survived: %v", pids)
	}
}

func TestCancelLeavesNoProcess(t *testing.T) {
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		marker := uniqueSleep()
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		rec := newRecorder()
		var once sync.Once
		var canceledAt time.Time
		rec.onLine = func(l line) {
			if l.text == "ready" {
				once.Do(func() {
					canceledAt = time.Now()
					cancel(errors.New("canceled by alice"))
				})
			}
		}
		res, err := Run(ctx, Spec{
			Workspace: workspace(t),
			Sandbox:   mode,
			Steps: []Step{{Name: "stubborn", Run: fmt.Sprintf(
				"trap '' TERM; sleep %[1]s & sleep %[1]s & echo ready; wait", marker)}},
		}, rec)
		took := time.Since(canceledAt)
		if err != nil {
			t.Fatal(err)
		}
		if pids := liveWithArg(marker); len(pids) > 0 {
			t.Fatalf("processes alive after Run returned: %v", pids)
		}
		if res.Status != StatusCanceled || res.Steps[0].Status != StatusCanceled {
			t.Fatalf("result %+v", res)
		}
		if got := rec.text(0, StreamSystem); !contains(got, "canceled: canceled by alice") {
			t.Fatalf("system lines %q", got)
		}
		// Generous bound (the promise is one second) so a loaded machine
		// cannot fail it, while a cancel that waits out the sleep would.
		if took > 20*time.Second {
			t.Fatalf("cancel took %v", took)
		}
	})
}

func TestCancelBeforeStartSkipsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ws := workspace(t)
	rec := newRecorder()
	res, err := Run(ctx, Spec{Workspace: ws, Sandbox: SandboxOff,
		Steps: []Step{{Name: "a", Run: "touch ran"}, {Name: "b", Run: "true"}}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCanceled || res.Steps[0].Status != StatusCanceled || res.Steps[1].Status != StatusSkipped {
		t.Fatalf("result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(ws, "ran")); err == nil {
		t.Fatal("a step ran after cancel")
	}
}

func TestBackgroundProcessesAreStoppedWhenTheStepEnds(t *testing.T) {
	marker := uniqueSleep()
	rec := newRecorder()
	res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxOff,
		Steps: []Step{{Name: "daemon", Run: "sleep " + marker + " & echo started"}}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusSucceeded {
		t.Fatalf("result %+v", res)
	}
	if pids := liveWithArg(marker); len(pids) > 0 {
		t.Fatalf("background process survived the step: %v", pids)
	}
	if got := rec.text(0, StreamSystem); !contains(got, "stopped background processes the step left running") {
		t.Fatalf("system lines %q", got)
	}
}

func TestSandboxConfinesWrites(t *testing.T) {
	requireSandbox(t)
	outside := t.TempDir()
	ws := workspace(t)
	tests := []struct {
		name, script string
		ok           bool
	}{
		{"a step can write in its workspace", "echo x > in-workspace && mkdir -p sub && touch sub/y", true},
		{"a step can write in its home", `touch "$HOME/.cache-file"`, true},
		{"a step can write in its private /tmp", "touch /tmp/scratch", true},
		{"a step cannot write in another temp dir", "touch " + outside + "/escaped", false},
		{"a step cannot write to /usr", "touch /usr/escaped", false},
		{"a step cannot write to /etc", "touch /etc/escaped", false},
		{"a step cannot see other host directories", "ls " + outside, false},
		{"a step cannot see the portal's working directory", "ls " + mustGetwd(t), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			res, err := Run(t.Context(), Spec{Workspace: ws, Sandbox: SandboxRequired,
				Steps: []Step{{Name: "w", Run: tt.script}}}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Status == StatusSucceeded; got != tt.ok {
				t.Fatalf("succeeded = %v, want %v\n%s", got, tt.ok, rec.all())
			}
		})
	}
	for _, p := range []string{filepath.Join(outside, "escaped"), "/usr/escaped", "/etc/escaped", "/tmp/scratch"} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s was written from inside the sandbox", p)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "sub", "y")); err != nil {
		t.Errorf("workspace write did not land: %v", err)
	}
}

func TestSandboxModes(t *testing.T) {
	t.Run("required without bwrap fails before running anything", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		ws := workspace(t)
		rec := newRecorder()
		_, err := Run(t.Context(), Spec{Workspace: ws, Sandbox: SandboxRequired,
			Steps: []Step{{Name: "a", Run: "touch ran"}}}, rec)
		if !errors.Is(err, ErrSandboxUnavailable) {
			t.Fatalf("Run = %v, want ErrSandboxUnavailable", err)
		}
		if len(rec.order) != 0 || len(rec.lines) != 0 {
			t.Fatalf("the sink was called: %v", rec.order)
		}
		if _, err := os.Stat(filepath.Join(ws, "ran")); err == nil {
			t.Fatal("the step ran")
		}
		if SandboxAvailable() {
			t.Fatal("SandboxAvailable without bwrap on PATH")
		}
	})
	t.Run("auto without bwrap runs unsandboxed and says so", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxAuto,
			Steps: []Step{{Name: "a", Run: "true"}}}, rec)
		if err != nil || res.Status != StatusSucceeded {
			t.Fatalf("Run = %+v, %v", res, err)
		}
		sys := rec.text(0, StreamSystem)
		if len(sys) != 1 || !strings.HasPrefix(sys[0], "running without a sandbox: ") {
			t.Fatalf("system lines %q", sys)
		}
	})
	t.Run("a bwrap that cannot create namespaces makes auto fall back and required fail", func(t *testing.T) {
		bin := t.TempDir()
		fake := "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(bin, "bwrap"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin)
		if SandboxAvailable() {
			t.Fatal("SandboxAvailable with a broken bwrap")
		}
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxAuto,
			Steps: []Step{{Name: "a", Run: "true"}}}, rec)
		if err != nil || res.Status != StatusSucceeded {
			t.Fatalf("auto: Run = %+v, %v", res, err)
		}
		if sys := rec.text(0, StreamSystem); len(sys) != 1 || !strings.Contains(sys[0], "No permissions") {
			t.Fatalf("auto: system lines %q, want the reason", sys)
		}
		_, err = Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxRequired,
			Steps: []Step{{Name: "a", Run: "true"}}}, newRecorder())
		if !errors.Is(err, ErrSandboxUnavailable) || !strings.Contains(err.Error(), "No permissions") {
			t.Fatalf("required: Run = %v, want ErrSandboxUnavailable with the reason", err)
		}
	})
	t.Run("auto with a working bwrap uses the sandbox", func(t *testing.T) {
		requireSandbox(t)
		if !SandboxAvailable() {
			t.Fatal("SandboxAvailable = false although the probe works")
		}
		rec := newRecorder()
		// Another temp dir of this test is invisible inside.
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxAuto,
			Steps: []Step{{Name: "a", Run: "test ! -e " + t.TempDir()}}}, rec)
		if err != nil || res.Status != StatusSucceeded {
			t.Fatalf("Run = %+v, %v\n%s", res, err, rec.all())
		}
		if sys := rec.text(0, StreamSystem); len(sys) != 0 {
			t.Fatalf("system lines %q", sys)
		}
	})
	t.Run("an unknown mode is refused", func(t *testing.T) {
		_, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: "maybe"}, newRecorder())
		if !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Run = %v, want ErrInvalidSpec", err)
		}
	})
}

func TestInvalidSpec(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
	}{
		{"a missing workspace", Spec{Workspace: filepath.Join(t.TempDir(), "nope")}},
		{"an env name with =", Spec{Workspace: t.TempDir(), Env: map[string]string{"A=B": "x"}}},
		{"an empty env name", Spec{Workspace: t.TempDir(), Secrets: map[string]string{"": "x"}}},
		{"a NUL in a step env value", Spec{Workspace: t.TempDir(), Steps: []Step{{Env: map[string]string{"A": "x\x00y"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			tt.spec.Sandbox = SandboxOff
			if _, err := Run(t.Context(), tt.spec, newRecorder()); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Run = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestReadOnlyFilesInHomeAreCleanedUp(t *testing.T) {
	ws := workspace(t)
	res, err := Run(t.Context(), Spec{Workspace: ws, Sandbox: SandboxOff,
		Steps: []Step{{Name: "modcache", Run: `mkdir -p "$HOME/pkg/mod/x" && touch "$HOME/pkg/mod/x/f" && chmod -R a-w "$HOME/pkg"`}}}, newRecorder())
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(ws), ".slipway-home-*"))
	if len(left) != 0 {
		t.Fatalf("home left behind: %v", left)
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestCacheDirSurvivesFromOneBuildToTheNext(t *testing.T) {
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		cache := t.TempDir()
		run := func(script string) *recorder {
			t.Helper()
			rec := newRecorder()
			res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: mode, CacheDir: cache,
				Steps: []Step{{Name: "cache", Run: script}}}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusSucceeded {
				t.Fatalf("status %q\n%s", res.Status, rec.all())
			}
			return rec
		}
		run(`test "$GOCACHE" = "$HOME/.cache/go-build"; mkdir -p "$XDG_CACHE_HOME/tool" && echo kept > "$XDG_CACHE_HOME/tool/entry"`)
		rec := run(`cat "$XDG_CACHE_HOME/tool/entry"`)
		if got := rec.text(0, StreamStdout); len(got) != 1 || got[0] != "kept" {
			t.Errorf("the second build read %q from the cache, want what the first wrote", got)
		}
		if _, err := os.Stat(filepath.Join(cache, ".cache", "tool", "entry")); err != nil {
			t.Errorf("the cache entry is not in the cache dir: %v", err)
		}
	})
	t.Run("a cache dir that does not exist is refused", func(t *testing.T) {
		_, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxOff, CacheDir: filepath.Join(t.TempDir(), "missing"),
			Steps: []Step{{Name: "x", Run: "true"}}}, newRecorder())
		if !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Run = %v, want ErrInvalidSpec", err)
		}
	})
}

func TestSandboxHidesTheHostsSecrets(t *testing.T) {
	requireSandbox(t)
	for _, script := range []string{
		"cat /etc/shadow",
		"cat /etc/gshadow",
		"ls /etc/ssl/private",
		"ls /proc/" + strconv.Itoa(os.Getpid()) + "/environ && grep -q SLIPWAY /proc/*/environ",
	} {
		t.Run(script+" fails", func(t *testing.T) {
			rec := newRecorder()
			res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxRequired,
				Steps: []Step{{Name: "steal", Run: script}}}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status == StatusSucceeded {
				t.Fatalf("%s succeeded in the sandbox:\n%s", script, rec.all())
			}
		})
	}
	t.Run("what a build needs of /etc is there", func(t *testing.T) {
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxRequired,
			Steps: []Step{{Name: "etc", Run: "test -s /etc/resolv.conf && test -s /etc/passwd && test -d /etc/ssl/certs && getent hosts localhost"}}}, rec)
		if err != nil || res.Status != StatusSucceeded {
			t.Fatalf("Run = %+v, %v\n%s", res, err, rec.all())
		}
	})
}

func TestSandboxPathsAreFixed(t *testing.T) {
	requireSandbox(t)
	rec := newRecorder()
	ws := workspace(t)
	res, err := Run(t.Context(), Spec{Workspace: ws, Sandbox: SandboxRequired,
		Steps: []Step{{Name: "where", Run: `pwd; echo "$HOME"; echo x > made`}}}, rec)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run = %+v, %v\n%s", res, err, rec.all())
	}
	if got := rec.text(0, StreamStdout); len(got) != 2 || got[0] != SandboxWorkspace || got[1] != SandboxHome {
		t.Fatalf("pwd and HOME %q, want %s and %s", got, SandboxWorkspace, SandboxHome)
	}
	if _, err := os.Stat(filepath.Join(ws, "made")); err != nil {
		t.Fatalf("a file written in /workspace is not in the workspace: %v", err)
	}
}

// A bounded fork bomb: 3000 background sleeps against a bound of 256.
// The step fails naming the bound, and nothing of it is left running.
func TestProcessLimitStopsAForkBomb(t *testing.T) {
	eachMode(t, func(t *testing.T, mode SandboxMode) {
		marker := uniqueSleep()
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: mode, MaxProcs: 256,
			Steps: []Step{
				{Name: "bomb", Run: `i=0; while [ $i -lt 3000 ]; do sleep ` + marker + ` & i=$((i+1)); done; echo all started`},
				{Name: "after", Run: "true"},
			}}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if contains(rec.text(0, StreamStdout), "all started") {
			t.Fatalf("3000 processes started under a bound of 256:\n%s", rec.all())
		}
		if res.Status != StatusFailed {
			t.Fatalf("status %q, want failed\n%s", res.Status, rec.all())
		}
		sys := strings.Join(rec.text(0, StreamSystem), "\n")
		if !strings.Contains(res.Steps[0].Err, "process limit reached") || !strings.Contains(sys, "more than 256 processes") {
			t.Fatalf("step error %q, system lines:\n%s", res.Steps[0].Err, sys)
		}
		if res.Steps[1].Status != StatusSkipped {
			t.Fatalf("the next step ran: %+v", res.Steps[1])
		}
		if pids := liveWithArg(marker); len(pids) > 0 {
			t.Fatalf("%d processes of the fork bomb survived the build", len(pids))
		}
	})
	t.Run("a build under the bound is not affected", func(t *testing.T) {
		rec := newRecorder()
		res, err := Run(t.Context(), Spec{Workspace: workspace(t), Sandbox: SandboxOff, MaxProcs: 256,
			Steps: []Step{{Name: "few", Run: `for i in 1 2 3 4 5; do sleep 0.1 & done; wait`}}}, rec)
		if err != nil || res.Status != StatusSucceeded {
			t.Fatalf("Run = %+v, %v\n%s", res, err, rec.all())
		}
	})
}
