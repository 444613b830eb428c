package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Adoption. A detached app process (Options.Detached) outlives the process
// that started it. A successor that knows its ProcessInfo takes it over
// with Manager.Adopt instead of starting the release again: the pid and
// the process start time together tell it from a later process that got
// the same number.

// adoptPoll is how often an adopted process (not our child: we cannot
// wait for it) is checked for its end.
const adoptPoll = 50 * time.Millisecond

// ProcessInfo identifies the running process of an instance, for a
// successor to adopt it.
type ProcessInfo struct {
	PID int `json:"pid"`
	// Start is the process start time in clock ticks since boot
	// (/proc/<pid>/stat field 22).
	Start uint64 `json:"start"`
	// Boot identifies the boot the process started in.
	Boot string `json:"boot"`
	Port int    `json:"port"`
	// Output is the FIFO the process writes its output to ("" when none).
	Output string `json:"output,omitempty"`
	// Slot is the instance's number in its release's pool (from 1).
	Slot int `json:"slot,omitempty"`
}

// Process returns the identity of the instance's current process; PID is
// 0 when none runs.
func (i *Instance) Process() ProcessInfo {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.pid == 0 {
		return ProcessInfo{}
	}
	return ProcessInfo{PID: i.pid, Start: i.procStart, Boot: bootID(), Port: i.port, Output: i.outPath, Slot: i.slot}
}

// Running reports whether the process info names a process that still
// runs: same boot, same pid, same start time, not a zombie.
func (pi ProcessInfo) Running() bool {
	if pi.PID <= 1 || pi.Boot != bootID() {
		return false
	}
	start, ok := procStartTime(pi.PID)
	if !ok || start != pi.Start {
		return false
	}
	_, state, ok := procStat(strconv.Itoa(pi.PID))
	return ok && state != 'Z' && state != 'X'
}

// Adopt takes over a running process that an earlier manager started for
// spec (with Options.Detached), instead of starting a new one: it checks
// that pi still names that process and that the app answers its health
// check, then supervises it like one of its own (restarts after a crash,
// drain, stop). When pi's process is gone or is not healthy within ctx, it
// returns an error and kills nothing but the process group it verified as
// the app's; the caller then starts the release anew.
func (m *Manager) Adopt(ctx context.Context, spec InstanceSpec, pi ProcessInfo, log func(line string)) (*Instance, error) {
	return m.adopt(ctx, spec, pi, log, nil)
}

// adopt is Adopt of a member of set (nil: of no pool).
func (m *Manager) adopt(ctx context.Context, spec InstanceSpec, pi ProcessInfo, log func(line string), set *releaseSet) (*Instance, error) {
	if pi.Slot > 0 {
		spec.Slot = pi.Slot
	}
	dir, err := m.checkSpec(spec)
	if err != nil {
		return nil, err
	}
	if !pi.Running() {
		return nil, fmt.Errorf("deploy: adopt release %d in %s: pid %d: %w", spec.ReleaseID, spec.Env, pi.PID, ErrExited)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("deploy: adopt release %d in %s: %w", spec.ReleaseID, spec.Env, ErrClosed)
	}
	e := m.envLocked(spec.Env)
	inst := newInstance(m, e, spec, dir, log)
	if set != nil {
		inst.set = set
		set.running++
	}
	e.instances[inst] = struct{}{}
	m.ports[pi.Port] = inst
	m.mu.Unlock()

	p := adoptProc(pi, inst.lines, inst.line)
	p.onFinish = func() {
		if pi.Output != "" {
			_ = os.Remove(pi.Output)
		}
	}
	inst.target.Store(&url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(pi.Port))})
	inst.mu.Lock()
	inst.pid, inst.port, inst.procStart, inst.outPath, inst.startedAt = pi.PID, pi.Port, pi.Start, pi.Output, time.Now()
	inst.mu.Unlock()

	hctx, cancel := context.WithTimeout(ctx, m.opts.HealthTimeout)
	detail, err := inst.awaitHealthy(hctx, p, pi.Port)
	cancel()
	if err != nil {
		p.terminate(m.opts.StopTimeout, inst.killCh)
		inst.setStopped()
		close(inst.done)
		m.forget(inst)
		return nil, &StartError{Env: spec.Env, ReleaseID: spec.ReleaseID, PID: pi.PID, Err: err, Detail: detail}
	}
	inst.setState(StateHealthy)
	m.log.Info("instance adopted", slog.String("env", spec.Env), slog.Int64("release", spec.ReleaseID),
		slog.Int("pid", pi.PID), slog.Int("port", pi.Port))
	go func() {
		defer close(inst.done)
		defer m.forget(inst)
		defer inst.transport.CloseIdleConnections()
		inst.supervise(p)
	}()
	return inst, nil
}

// adoptProc watches a process that is not our child.
func adoptProc(pi ProcessInfo, split LineSplitter, line func(string)) *proc {
	p := &proc{pid: pi.PID, exited: make(chan struct{}), outputDone: make(chan struct{})}
	if pi.Output != "" {
		if f, err := os.OpenFile(pi.Output, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			p.out = f
		}
	}
	if p.out == nil {
		p.out, _ = os.Open(os.DevNull)
	}
	p.readOutput(split, line)
	go func() {
		for pi.Running() {
			time.Sleep(adoptPoll)
		}
		p.endedAt = time.Now()
		close(p.exited)
	}()
	return p
}

// openOutputFIFO creates a FIFO at path for a detached process's output.
// The process gets w, opened read-write: as it is a reader itself, its
// writes never fail with EPIPE (nor raise SIGPIPE) while no edge reads;
// they wait once the FIFO's buffer is full. r is our reading end; a
// successor opens the path again.
func openOutputFIFO(path string) (r, w *os.File, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, nil, fmt.Errorf("mkfifo %s: %w", path, err)
	}
	w, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		_ = os.Remove(path)
		return nil, nil, err
	}
	r, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		w.Close()
		_ = os.Remove(path)
		return nil, nil, err
	}
	return r, w, nil
}

// outputFIFOPath names a new FIFO in Options.OutputDir.
func (m *Manager) outputFIFOPath() string {
	if !m.opts.Detached || m.opts.OutputDir == "" {
		return ""
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return filepath.Join(m.opts.OutputDir, hex.EncodeToString(b)+".out")
}

// Abandon closes every edge (in-flight requests finish within ctx and
// DrainTimeout) and leaves every app process running, for a successor that
// adopts them: the hand-over of an upgrade. The Manager is closed
// afterwards. Only detached processes outlive this process.
func (m *Manager) Abandon(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	var srvs []*http.Server
	for _, e := range m.envs {
		if e.srv != nil {
			srvs = append(srvs, e.srv)
		}
		e.srv, e.addr = nil, ""
	}
	m.mu.Unlock()
	drainCtx, cancel := context.WithTimeout(ctx, m.opts.DrainTimeout)
	defer cancel()
	for _, srv := range srvs {
		shutdownServer(drainCtx, srv)
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("deploy: abandon: %w", err)
	}
	return nil
}
