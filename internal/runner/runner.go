// Package runner runs a build's steps as processes on the worker machine:
// each step is /bin/sh -ec in its own session and process group, with a
// clean environment, a timeout, cancellation that leaves no process behind,
// an optional bubblewrap sandbox, and its stdout and stderr turned into
// masked, timestamped lines for a Sink. It also provides the masking line
// writer on its own (NewLineWriter) for deploy and load-test logs.
//
// It knows nothing of pipelines, jobs or storage: the caller maps its
// parsed steps to Step and stores what the Sink receives.
package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/internal/sandbox"
)

// SandboxMode is the shared sandbox setting (SLIPWAY_SANDBOX); see
// sandbox.Mode.
type SandboxMode = sandbox.Mode

// Sandbox modes.
const (
	SandboxAuto     = sandbox.ModeAuto
	SandboxOff      = sandbox.ModeOff
	SandboxRequired = sandbox.ModeRequired
)

// Step statuses, also used for the whole build in Result.Status.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
	StatusTimedOut  = "timed_out"
	StatusSkipped   = "skipped"
)

// Streams a Sink line comes from.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	// StreamSystem carries the runner's own notes (timeouts, exit 127,
	// sandbox fallback).
	StreamSystem = "system"
)

// Errors returned by Run before any step runs.
var (
	// ErrSandboxUnavailable: mode required, but bwrap is missing or cannot
	// create namespaces on this machine.
	ErrSandboxUnavailable = errors.New("sandbox unavailable")
	// ErrInvalidSpec: the Spec cannot be run (no workspace, bad env name).
	ErrInvalidSpec = errors.New("invalid build spec")
)

const (
	// stepPath is the only PATH a step gets, whatever the portal's is.
	// /usr/local/go/bin is where the Go toolchain is usually installed.
	stepPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin"
	// timeoutGrace is how long a timed-out step's processes get between
	// SIGTERM and SIGKILL.
	timeoutGrace = 2 * time.Second
	// cancelGrace is shorter: a cancel from the UI must leave no process
	// alive within a second, even one that ignores SIGTERM.
	cancelGrace = 500 * time.Millisecond
	// killWait bounds the wait for the group to vanish after SIGKILL.
	killWait = 2 * time.Second
	// outputGrace bounds how long output is still read once every process
	// of the step is gone (only a process that left the group on purpose
	// can hold the pipes open that long).
	outputGrace = 5 * time.Second
)

// Step is one command of a build.
type Step struct {
	// Name is shown in the log.
	Name string
	// Run is the shell script, run as /bin/sh -ec Run.
	Run string
	// Env is the step's own environment; it wins over Spec.Env and
	// Spec.Secrets.
	Env map[string]string
	// Timeout ends the step (SIGTERM, then SIGKILL); zero means only the
	// build timeout applies.
	Timeout time.Duration
}

// Spec is a whole build.
type Spec struct {
	// Workspace is the exported tree; steps run with it as their working
	// directory. It must exist and should live outside the data dir.
	Workspace string
	// Steps run in order; the first that does not succeed ends the build.
	Steps []Step
	// Env holds SLIPWAY_* build variables and declared env, under Secrets
	// and each step's Env.
	Env map[string]string
	// Secrets are injected as environment variables and masked in output.
	Secrets map[string]string
	// BuildTimeout ends the whole build; zero means none.
	BuildTimeout time.Duration
	// Sandbox is auto (also when empty), off or required. The sandbox
	// keeps the host's network: builds download dependencies.
	Sandbox SandboxMode
	// MaxLineBytes cuts longer lines into several; DefaultMaxLineBytes
	// when zero.
	MaxLineBytes int
	// CacheDir, when set, is the steps' HOME, kept from one build to the
	// next (the caller keeps one per project and branch): the caches of
	// Go (modules and builds), npm, pnpm, Yarn and pip are under it (see
	// CacheEnv), so a second build downloads and compiles only what
	// changed. When empty, HOME is a fresh directory beside the
	// workspace, removed after the build. It must be an absolute path to
	// an existing directory.
	CacheDir string
	// MaxProcs bounds the tasks (processes and threads) the whole build
	// may have at once, with a pids cgroup where one is writable and
	// RLIMIT_NPROC otherwise (see sandbox.Limit); a step that hits it
	// fails saying so. Zero means no bound.
	MaxProcs int
}

// CacheEnv is where the tools' caches go under the step's HOME; each is a
// variable the tool reads (GOMODCACHE and GOCACHE for Go, npm_config_cache
// for npm, PNPM_STORE_DIR for pnpm, YARN_CACHE_FOLDER for Yarn 1,
// PIP_CACHE_DIR for pip) and is set for every step, under Spec.Env and
// Step.Env, which may override it.
var CacheEnv = map[string]string{
	"XDG_CACHE_HOME":    ".cache",
	"GOMODCACHE":        "go/pkg/mod",
	"GOCACHE":           ".cache/go-build",
	"npm_config_cache":  ".npm",
	"PNPM_STORE_DIR":    ".local/share/pnpm/store",
	"YARN_CACHE_FOLDER": ".cache/yarn",
	"PIP_CACHE_DIR":     ".cache/pip",
}

// Sink receives a build's progress; nil discards it. The runner calls it
// from its own goroutines but never concurrently, and Line in order within
// each stream (stdout and stderr are separate pipes, so their relative
// order is only as good as the timestamps). A step that never started (because
// an earlier one failed) gets only StepFinished with status skipped.
type Sink interface {
	StepStarted(i int, name string)
	Line(i int, stream string, text string, at time.Time)
	StepFinished(i int, r StepResult)
}

// StepResult is how one step ended.
type StepResult struct {
	// Status is succeeded, failed, canceled, timed_out or skipped.
	Status string
	// ExitCode is the shell's exit code; -1 when it was killed.
	ExitCode int
	// Duration is the wall time of the step.
	Duration time.Duration
	// Err explains a status other than succeeded, for people.
	Err string
}

// Result is how the build ended: Status is that of the first step that did
// not succeed (or succeeded), and Steps has one entry per Spec step.
type Result struct {
	Status string
	Steps  []StepResult
}

// timeoutCause is the context cause of a step or build timeout.
type timeoutCause struct {
	build bool
	after time.Duration
}

func (t timeoutCause) Error() string {
	if t.build {
		return fmt.Sprintf("build timed out after %s", t.after)
	}
	return fmt.Sprintf("timed out after %s", t.after)
}

// lockedSink serializes calls into the caller's Sink.
type lockedSink struct {
	mu sync.Mutex
	s  Sink
}

func (l *lockedSink) started(i int, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.StepStarted(i, name)
}

func (l *lockedSink) line(i int, stream, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.Line(i, stream, text, time.Now())
}

func (l *lockedSink) finished(i int, r StepResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s.StepFinished(i, r)
}

// discard is the Sink used when Run is given none.
type discard struct{}

func (discard) StepStarted(int, string)             {}
func (discard) Line(int, string, string, time.Time) {}
func (discard) StepFinished(int, StepResult)        {}

// build is the state of one Run.
type build struct {
	spec    Spec
	sink    *lockedSink
	masker  *masker
	home    string // on the host
	sandbox bool
	limit   *sandbox.Limit // nil without Spec.MaxProcs
	notices []string       // said once at the top of the first step
}

// Run runs the steps of spec in order and reports through sink. It returns
// an error only when nothing could be run (invalid spec, sandbox required
// but unavailable, no temp home); a build that fails, times out or is
// canceled is a Result with that status and a nil error.
//
// Each step gets exactly this environment: PATH (a fixed system PATH),
// HOME (Spec.CacheDir, or a fresh directory beside the workspace removed
// afterwards; /home/build in the sandbox, where the workspace is
// /workspace), the CacheEnv variables under HOME, LANG=C.UTF-8, CI=true,
// then Spec.Env, Spec.Secrets and Step.Env — nothing of the portal's own
// environment. On timeout or cancel the
// step's whole process group gets SIGTERM, then SIGKILL after a grace
// period (2 s for timeouts, 0.5 s for cancel), and the runner waits until
// no process of the group is left. Processes a step leaves running in
// the background are stopped the same way when the step ends.
func Run(ctx context.Context, spec Spec, sink Sink) (Result, error) {
	if err := checkSpec(spec); err != nil {
		return Result{}, err
	}
	if sink == nil {
		sink = discard{}
	}
	b := &build{spec: spec, sink: &lockedSink{s: sink}}
	var err error
	var notice string
	b.sandbox, notice, err = chooseSandbox(ctx, spec.Sandbox)
	if err != nil {
		return Result{}, err
	}
	if notice != "" {
		b.notices = append(b.notices, notice)
	}
	secrets := make([]string, 0, len(spec.Secrets))
	for _, v := range spec.Secrets {
		secrets = append(secrets, v)
	}
	b.masker = newMasker(secrets)

	ws, err := filepath.Abs(spec.Workspace)
	if err != nil {
		return Result{}, fmt.Errorf("runner: workspace: %w", err)
	}
	b.spec.Workspace = ws
	if spec.CacheDir != "" {
		b.home = spec.CacheDir
	} else {
		b.home, err = os.MkdirTemp(filepath.Dir(ws), ".slipway-home-")
		if err != nil {
			return Result{}, fmt.Errorf("runner: create home: %w", err)
		}
		defer removeAll(b.home)
	}
	if spec.MaxProcs > 0 {
		b.limit, err = sandbox.NewLimit("build", spec.MaxProcs)
		if err != nil {
			return Result{}, fmt.Errorf("runner: %v: %w", err, ErrInvalidSpec)
		}
		defer b.limit.Close()
		if n := b.limit.Notice(); n != "" {
			b.notices = append(b.notices, n)
		}
	}

	var bctx context.Context
	var cancel context.CancelFunc
	if spec.BuildTimeout > 0 {
		bctx, cancel = context.WithTimeoutCause(ctx, spec.BuildTimeout, timeoutCause{build: true, after: spec.BuildTimeout})
	} else {
		bctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	res := Result{Status: StatusSucceeded, Steps: make([]StepResult, len(spec.Steps))}
	for i, step := range spec.Steps {
		if res.Status != StatusSucceeded {
			res.Steps[i] = StepResult{Status: StatusSkipped}
			b.sink.finished(i, res.Steps[i])
			continue
		}
		r := b.runStep(bctx, i, step)
		res.Steps[i] = r
		if r.Status != StatusSucceeded {
			res.Status = r.Status
		}
	}
	return res, nil
}

func checkSpec(spec Spec) error {
	st, err := os.Stat(spec.Workspace)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("runner: workspace %q is not a directory: %w", spec.Workspace, ErrInvalidSpec)
	}
	if spec.CacheDir != "" {
		if st, err := os.Stat(spec.CacheDir); err != nil || !st.IsDir() || !filepath.IsAbs(spec.CacheDir) {
			return fmt.Errorf("runner: cache dir %q is not an absolute path to a directory: %w", spec.CacheDir, ErrInvalidSpec)
		}
	}
	check := func(env map[string]string) error {
		for k, v := range env {
			if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("runner: environment variable %q: %w", k, ErrInvalidSpec)
			}
		}
		return nil
	}
	if err := errors.Join(check(spec.Env), check(spec.Secrets)); err != nil {
		return err
	}
	for _, s := range spec.Steps {
		if err := check(s.Env); err != nil {
			return err
		}
	}
	return nil
}

// env is the complete environment of one step, sorted for stable output.
// In the sandbox, HOME and the workspace are at their fixed paths.
func (b *build) env(step Step) []string {
	home := b.home
	if b.sandbox {
		home = SandboxHome
	}
	m := map[string]string{
		"PATH": stepPath,
		"HOME": home,
		"LANG": "C.UTF-8",
		"CI":   "true",
	}
	for k, rel := range CacheEnv {
		m[k] = path.Join(home, rel)
	}
	for _, layer := range []map[string]string{b.spec.Env, b.spec.Secrets, step.Env} {
		for k, v := range layer {
			m[k] = v
		}
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// system writes one of the runner's own lines, masked like any other.
func (b *build) system(i int, text string) {
	b.sink.line(i, StreamSystem, sanitize(b.masker.mask(text)))
}

// removeAll deletes a directory tree even where a build left it read-only
// (the Go module cache does that).
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
