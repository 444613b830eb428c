package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Engine is the one narrow interface through which callers drive edges and
// app instances. *Manager implements it in process; edge.Client implements
// it over the control socket of a separate `slipway edge` process.
// Rollout, SwitchWarm and Scale name environments and releases by key and
// ID and return plain values, so they cross a socket as they are; the
// functions in a RolloutSpec (Output, Stopped, Lines) stand for the
// release's output stream, which such a client feeds from its own side.
type Engine interface {
	EnsureEdge(env, addr string) (string, error)
	// Rollout takes a release live on a pool of instances: all at once
	// when nothing (or the same release) is live, else rolling, batch by
	// batch. A failure leaves (or puts back) the previous pool.
	Rollout(ctx context.Context, spec RolloutSpec, progress func(line string)) (RolloutResult, error)
	// SwitchWarm puts the warm pool of releaseID back live, the whole set
	// at once, and returns its size; ErrNotWarm when none is warm.
	SwitchWarm(env string, releaseID int64) (int, error)
	// Scale changes the live pool of env to n instances without a deploy.
	Scale(ctx context.Context, env string, n int) error
	Status(env string) EnvStatus
	StopEnv(env string) error
	Close(ctx context.Context) error
}

var _ Engine = (*Manager)(nil)

// Manager owns every environment's edge proxy and app instances in this
// process. It holds no database handle: callers pass in what it needs and
// persist what it reports. All methods are safe for concurrent use.
type Manager struct {
	opts   Options
	log    *slog.Logger
	health *http.Client

	closing chan struct{} // closed by Close
	bg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	envs   map[string]*envState
	ports  map[int]*Instance // loopback ports handed to app processes

	sandboxOnce sync.Once
	sandbox     sandboxChoice
	workMu      sync.Mutex // serializes work dir layouts

	// stateMu guards groups and the state file (see orphans.go).
	stateMu sync.Mutex
	groups  map[int]runningGroup
}

// NewManager returns a Manager with opts (zero fields take their defaults).
func NewManager(opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{
		opts: opts,
		log:  opts.Logger,
		health: &http.Client{
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a health check answers itself
			},
		},
		closing: make(chan struct{}),
		envs:    map[string]*envState{},
		ports:   map[int]*Instance{},
		groups:  map[int]runningGroup{},
	}
}

var digestRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ReleaseDir returns the directory under Options.ReleasesDir where the
// artifact with digest is (to be) unpacked.
func (m *Manager) ReleaseDir(digest string) (string, error) {
	if m.opts.ReleasesDir == "" {
		return "", fmt.Errorf("deploy: release dir: %w: no ReleasesDir configured", ErrInvalid)
	}
	if !digestRE.MatchString(digest) {
		return "", fmt.Errorf("deploy: release dir: %w: bad digest %q", ErrInvalid, digest)
	}
	return filepath.Join(m.opts.ReleasesDir, digest), nil
}

// envLocked returns env's state, creating it. The caller holds m.mu.
func (m *Manager) envLocked(env string) *envState {
	e := m.envs[env]
	if e == nil {
		e = &envState{name: env, m: m, instances: map[*Instance]struct{}{}, sets: map[int64]*releaseSet{}}
		m.envs[env] = e
	}
	return e
}

// EnsureEdge makes sure env has an edge listening on addr and returns the
// bound address. An addr with port 0 (or "") picks a free port; the caller
// persists the result and passes it back next time so the environment's
// URL stays stable. If the edge already listens, its address is returned
// when addr names the same socket or any port; otherwise the edge moves to
// addr (the old listener drains in the background). A taken address is an
// error wrapping ErrAddrInUse.
func (m *Manager) EnsureEdge(env, addr string) (string, error) {
	if env == "" {
		return "", fmt.Errorf("deploy: ensure edge: %w: empty environment", ErrInvalid)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", fmt.Errorf("deploy: ensure edge for %s: %w", env, ErrClosed)
	}
	e := m.envLocked(env)
	if e.srv != nil && (anyPort(addr) || sameAddr(addr, e.addr)) {
		return e.addr, nil
	}
	listen := net.Listen
	if m.opts.Listen != nil {
		listen = m.opts.Listen
	}
	ln, err := listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("deploy: edge for %s: cannot listen on %s: %w", env, addr, ErrAddrInUse)
		}
		return "", fmt.Errorf("deploy: edge for %s: listen on %s: %w", env, addr, err)
	}
	srv := e.newServer()
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		_ = srv.Serve(ln) // returns on Shutdown or Close
	}()
	if old := e.srv; old != nil {
		m.bg.Add(1)
		go func() {
			defer m.bg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), m.opts.DrainTimeout)
			defer cancel()
			shutdownServer(ctx, old)
		}()
	}
	e.srv, e.addr = srv, ln.Addr().String()
	m.log.Info("edge listening", slog.String("env", env), slog.String("addr", e.addr))
	return e.addr, nil
}

// StartInstance starts spec's app with a free loopback PORT and waits
// until it is healthy (see InstanceSpec.HealthPath). Output lines go to log
// (until Instance.SetLog changes it) and to a ring buffer of the last
// Options.OutputLines lines. The app's process group runs until it is
// stopped, independent of ctx, which bounds only the start.
//
// On failure nothing is left running and the error is a *StartError
// wrapping ErrExited (the process ended; its output and exit are attached),
// ErrUnhealthy (no 2xx within HealthTimeout), ErrStopped, or ctx's error.
func (m *Manager) StartInstance(ctx context.Context, spec InstanceSpec, log func(line string)) (*Instance, error) {
	dir, err := m.checkSpec(spec)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("deploy: start release %d in %s: %w", spec.ReleaseID, spec.Env, ErrClosed)
	}
	e := m.envLocked(spec.Env)
	inst := newInstance(m, e, spec, dir, log)
	e.instances[inst] = struct{}{}
	m.mu.Unlock()

	ready := make(chan error, 1)
	go inst.run(ctx, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return inst, nil
}

func (m *Manager) checkSpec(spec InstanceSpec) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("deploy: start release %d in %s: %w: %s", spec.ReleaseID, spec.Env, ErrInvalid, why)
	}
	switch {
	case spec.Env == "":
		return bad("empty environment")
	case strings.TrimSpace(spec.Command) == "":
		return bad("empty command")
	case spec.HealthPath != "" && !strings.HasPrefix(spec.HealthPath, "/"):
		return bad("health path must start with /")
	case spec.Dir == "":
		return bad("empty directory")
	}
	for k := range spec.Vars {
		if !validEnvName(k) {
			return bad(fmt.Sprintf("bad variable name %q", k))
		}
	}
	dir := spec.Dir
	if !filepath.IsAbs(dir) {
		if m.opts.ReleasesDir == "" || !filepath.IsLocal(dir) {
			return bad(fmt.Sprintf("directory %q is not absolute nor inside the releases directory", dir))
		}
		dir = filepath.Join(m.opts.ReleasesDir, dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("deploy: start release %d in %s: %w", spec.ReleaseID, spec.Env, err)
	}
	if !fi.IsDir() {
		return bad(fmt.Sprintf("%s is not a directory", dir))
	}
	return dir, nil
}

// Switch atomically points env's edge at inst, which must be a healthy
// instance of env, and returns the instance it replaced (nil if none, or if
// inst was already live). Requests already sent to the previous instance
// complete there; it is kept warm for Options.WarmFor so that switching
// back to it is instant, then drained and stopped. Switching to a warm
// instance takes it out of the warm list: that is the instant rollback.
// Switch works before EnsureEdge too; the edge serves whatever is live.
func (m *Manager) Switch(env string, inst *Instance) (*Instance, error) {
	if inst == nil {
		return nil, fmt.Errorf("deploy: switch %s: %w: no instance", env, ErrInvalid)
	}
	if inst.env != env {
		return nil, fmt.Errorf("deploy: switch %s to release %d: %w (%s)", env, inst.releaseID, ErrWrongEnv, inst.env)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("deploy: switch %s: %w", env, ErrClosed)
	}
	e := m.envs[env]
	if e == nil || e != inst.es || inst.retiring {
		return nil, fmt.Errorf("deploy: switch %s to release %d: %w", env, inst.releaseID, ErrStopped)
	}
	if _, ok := e.instances[inst]; !ok {
		return nil, fmt.Errorf("deploy: switch %s to release %d: %w", env, inst.releaseID, ErrStopped)
	}
	if st := inst.State(); st != StateHealthy {
		return nil, fmt.Errorf("deploy: switch %s to release %d: %w (it is %s)", env, inst.releaseID, ErrNotHealthy, st)
	}
	prev := e.live.Load()
	if prev != nil && len(prev.members) == 1 && prev.members[0] == inst {
		return nil, nil
	}
	e.removeWarm(inst)
	e.live.Store(newPool(inst.releaseID, []*Instance{inst}))
	m.log.Info("edge switched", slog.String("env", env), slog.Int64("release", inst.releaseID))
	if prev == nil {
		return nil, nil
	}
	rest := prev.without(inst).members
	m.keepWarmLocked(e, rest)
	if len(rest) == 0 {
		return nil, nil
	}
	return rest[0], nil
}

// keepWarmLocked keeps replaced instances (one release's pool) running for
// the rollback window, retiring the warm pools of the oldest releases
// beyond MaxWarm. The caller holds m.mu.
func (m *Manager) keepWarmLocked(e *envState, prev []*Instance) {
	for _, inst := range prev {
		if m.opts.WarmFor < 0 || inst.State() == StateStopped {
			m.retireLocked(inst)
			continue
		}
		inst.warmUntil = time.Now().Add(m.opts.WarmFor)
		inst.warmTimer = time.AfterFunc(m.opts.WarmFor, func() { m.expire(e, inst) })
		e.warm = append(e.warm, inst)
	}
	for {
		var releases []int64
		for _, w := range e.warm {
			if !slices.Contains(releases, w.releaseID) {
				releases = append(releases, w.releaseID)
			}
		}
		if len(releases) <= m.opts.MaxWarm {
			return
		}
		for _, w := range slices.Clone(e.warm) {
			if w.releaseID == releases[0] {
				e.removeWarm(w)
				m.retireLocked(w)
			}
		}
	}
}

// expire ends a warm instance's rollback window.
func (m *Manager) expire(e *envState, inst *Instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if e.removeWarm(inst) {
		m.retireLocked(inst)
	}
}

// retireLocked drains and stops an instance that is no longer live, in the
// background. The caller holds m.mu.
func (m *Manager) retireLocked(inst *Instance) {
	if inst.retiring {
		return
	}
	inst.retiring = true
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		inst.drain(context.Background())
		_ = inst.stop(context.Background()) // bounded by StopTimeout, then SIGKILL
	}()
}

// Warm returns a running, healthy warm instance of releaseID in env, for an
// instant rollback with Switch, or nil.
func (m *Manager) Warm(env string, releaseID int64) *Instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.envs[env]
	if e == nil {
		return nil
	}
	for _, inst := range slices.Backward(e.warm) {
		if inst.releaseID == releaseID && inst.State() == StateHealthy {
			return inst
		}
	}
	return nil
}

// Stop drains inst (bounded by DrainTimeout and ctx) and stops its process
// group: SIGTERM, then SIGKILL after StopTimeout or when ctx ends. The live
// instance cannot be stopped this way (ErrLive): switch away first, or use
// StopEnv. Stopping a stopped instance does nothing.
func (m *Manager) Stop(ctx context.Context, inst *Instance) error {
	m.mu.Lock()
	if e := inst.es; e.live.Load().has(inst) && m.envs[inst.env] == e && !m.closed {
		m.mu.Unlock()
		return fmt.Errorf("deploy: stop release %d in %s: %w", inst.releaseID, inst.env, ErrLive)
	}
	inst.es.removeWarm(inst)
	inst.retiring = true
	m.mu.Unlock()
	inst.drain(ctx)
	return inst.stop(ctx)
}

// Status returns a snapshot of env's edge and instances.
func (m *Manager) Status(env string) EnvStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := EnvStatus{Env: env}
	e := m.envs[env]
	if e == nil {
		return st
	}
	if e.srv != nil {
		st.EdgeAddr = e.addr
	}
	live := e.live.Load()
	if live != nil {
		st.LiveReleaseID = live.releaseID
		st.Balance = cmp.Or(live.balance, m.opts.Balance, BalanceLeastOutstanding)
		for _, inst := range live.members {
			st.Pool = append(st.Pool, inst.Status())
		}
		slices.SortFunc(st.Pool, func(a, b InstanceStatus) int { return cmp.Compare(a.Slot, b.Slot) })
		if len(st.Pool) > 0 {
			s := live.members[0].Status()
			st.Live = &s
		}
	}
	st.Desired = e.desired
	for _, inst := range slices.Backward(e.warm) {
		s := inst.Status()
		s.WarmUntil = inst.warmUntil
		st.Warm = append(st.Warm, s)
	}
	for inst := range e.instances {
		if !live.has(inst) && !slices.Contains(e.warm, inst) {
			st.Other = append(st.Other, inst.Status())
		}
	}
	slices.SortFunc(st.Other, func(a, b InstanceStatus) int {
		return cmp.Or(cmp.Compare(a.ReleaseID, b.ReleaseID), cmp.Compare(a.Slot, b.Slot))
	})
	return st
}

// StopEnv closes env's edge (letting in-flight requests finish within
// DrainTimeout) and stops all its instances. An unknown env is not an error.
func (m *Manager) StopEnv(env string) error {
	m.mu.Lock()
	e := m.envs[env]
	if e == nil {
		m.mu.Unlock()
		return nil
	}
	delete(m.envs, env)
	srv, insts := m.detachLocked(e)
	m.mu.Unlock()

	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.DrainTimeout)
		shutdownServer(ctx, srv)
		cancel()
	}
	m.stopAll(context.Background(), insts)
	m.log.Info("environment stopped", slog.String("env", env))
	return nil
}

// detachLocked takes everything out of e: its server and its instances,
// which are marked retiring. The caller holds m.mu.
func (m *Manager) detachLocked(e *envState) (*http.Server, []*Instance) {
	for _, inst := range slices.Clone(e.warm) {
		e.removeWarm(inst)
	}
	insts := make([]*Instance, 0, len(e.instances))
	for inst := range e.instances {
		inst.retiring = true
		insts = append(insts, inst)
	}
	srv := e.srv
	e.srv, e.addr = nil, ""
	return srv, insts
}

// stopAll stops instances concurrently and waits for all of them.
func (m *Manager) stopAll(ctx context.Context, insts []*Instance) {
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Go(func() { _ = inst.stop(ctx) })
	}
	wg.Wait()
}

// Close stops every edge (in-flight requests may finish while ctx and
// DrainTimeout allow) and every instance (SIGTERM to each group, SIGKILL
// after StopTimeout or when ctx ends). It returns ctx's error if ctx ended
// first; no process is left either way.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	var srvs []*http.Server
	var insts []*Instance
	for _, e := range m.envs {
		srv, in := m.detachLocked(e)
		if srv != nil {
			srvs = append(srvs, srv)
		}
		insts = append(insts, in...)
	}
	m.envs = map[string]*envState{}
	m.mu.Unlock()

	drainCtx, cancel := context.WithTimeout(ctx, m.opts.DrainTimeout)
	var wg sync.WaitGroup
	for _, srv := range srvs {
		wg.Go(func() { shutdownServer(drainCtx, srv) })
	}
	wg.Wait()
	cancel()
	m.stopAll(ctx, insts)

	done := make(chan struct{})
	go func() {
		m.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deploy: close: %w", err)
	}
	return nil
}

// allocPort picks a free loopback port for inst's next process, never one
// already handed to another process of this manager.
func (m *Manager) allocPort(inst *Instance) (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("deploy: pick a port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		m.mu.Lock()
		if _, taken := m.ports[port]; !taken {
			for p, owner := range m.ports {
				if owner == inst {
					delete(m.ports, p)
				}
			}
			m.ports[port] = inst
			m.mu.Unlock()
			return port, nil
		}
		m.mu.Unlock()
	}
	return 0, errors.New("deploy: pick a port: no free loopback port")
}

// forget drops an instance that has stopped for good.
func (m *Manager) forget(inst *Instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(inst.es.instances, inst)
	inst.es.removeWarm(inst)
	if set := inst.set; set != nil {
		set.running--
		if set.running == 0 {
			if inst.es.sets[inst.releaseID] == set {
				delete(inst.es.sets, inst.releaseID)
			}
			if set.stopped != nil {
				go set.stopped()
			}
		}
	}
	for p, owner := range m.ports {
		if owner == inst {
			delete(m.ports, p)
		}
	}
}

// emit reports an event to the caller.
func (m *Manager) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if m.opts.OnEvent != nil {
		m.opts.OnEvent(ev)
	}
}
