package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
)

// Options configure a Daemon.
type Options struct {
	// DataDir is the portal's data dir: releases/ and appdata/ are shared
	// with it; run/ holds the socket, the state file and the output FIFOs.
	DataDir string
	// Socket is the control socket's path (default <DataDir>/run/edge.sock).
	Socket string
	// Sandbox, MaxProcs, HealthTimeout, WarmFor, DrainTimeout and
	// StopTimeout are deploy.Options'.
	Sandbox       deploy.SandboxMode
	MaxProcs      int
	HealthTimeout time.Duration
	WarmFor       time.Duration
	DrainTimeout  time.Duration
	StopTimeout   time.Duration
	// Listen opens listeners (tableflip's, to hand them over on upgrade);
	// nil means net.Listen.
	Listen func(network, addr string) (net.Listener, error)
	Logger *slog.Logger
	// Version is reported by GET /v1/info.
	Version string
}

// DefaultSocket is the control socket's path for a data dir.
func DefaultSocket(dataDir string) string { return filepath.Join(dataDir, "run", "edge.sock") }

func (o Options) withDefaults() Options {
	if o.Socket == "" {
		o.Socket = DefaultSocket(o.DataDir)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Listen == nil {
		o.Listen = net.Listen
	}
	return o
}

// Daemon is the edge: a deploy.Manager with detached app processes, the
// desired state of every environment, and the reconciler between them.
type Daemon struct {
	opts      Options
	log       *slog.Logger
	mgr       *deploy.Manager
	statePath string
	started   time.Time

	mu      sync.Mutex
	envs    map[string]*envRun
	frozen  bool // handed over: the successor owns the state file
	adopted int

	subMu sync.Mutex
	subs  map[chan Message]struct{}
	// leaving is closed by HandOver and Close: event streams end, so that
	// the control server's shutdown does not wait for them.
	leaving   chan struct{}
	leaveOnce sync.Once
}

// envRun is one environment as the edge runs it. Guarded by Daemon.mu.
type envRun struct {
	desired   Desired
	bound     string
	edgeErr   error
	insts     map[int64]*deploy.Instance // the instance of each release
	starting  map[int64]bool
	failed    map[int64]Failure
	switchErr error
}

// New returns a Daemon; call Restore, then serve its Handler.
func New(opts Options) *Daemon {
	opts = opts.withDefaults()
	d := &Daemon{opts: opts, log: opts.Logger, started: time.Now(), envs: map[string]*envRun{},
		statePath: filepath.Join(filepath.Dir(opts.Socket), "edge-state.json"), subs: map[chan Message]struct{}{}, leaving: make(chan struct{})}
	d.mgr = deploy.NewManager(deploy.Options{
		ReleasesDir: filepath.Join(opts.DataDir, "releases"), WorkDir: filepath.Join(opts.DataDir, "appdata"),
		Sandbox: opts.Sandbox, MaxProcs: opts.MaxProcs, Logger: opts.Logger, HealthTimeout: opts.HealthTimeout,
		WarmFor: opts.WarmFor, DrainTimeout: opts.DrainTimeout, StopTimeout: opts.StopTimeout,
		Detached: true, OutputDir: filepath.Join(filepath.Dir(opts.Socket), "out"), Listen: opts.Listen,
		OnEvent: d.onEvent,
	})
	return d
}

// StatePath is the state file's path.
func (d *Daemon) StatePath() string { return d.statePath }

func (d *Daemon) env(name string) *envRun {
	er := d.envs[name]
	if er == nil {
		er = &envRun{desired: Desired{Env: name}, insts: map[int64]*deploy.Instance{}, starting: map[int64]bool{}, failed: map[int64]Failure{}}
		d.envs[name] = er
	}
	return er
}

// Restore reads the state file and brings every environment back: its
// edge on the address it had, its running app processes re-adopted (those
// whose pid and start time still match and that answer their health
// check), the others started again, the live release switched to.
func (d *Daemon) Restore(ctx context.Context) error {
	st, err := loadState(d.statePath)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var amu sync.Mutex
	type adopted struct {
		env  string
		rel  int64
		inst *deploy.Instance
	}
	var got []adopted
	d.mu.Lock()
	for name, rec := range st.Envs {
		er := d.env(name)
		er.desired, er.bound = rec.Desired, rec.Bound
		for _, r := range slices.Concat(rec.Desired.Releases, rec.Desired.Warm) {
			pi, ok := rec.Processes[r.ID]
			if !ok || pi.PID == 0 {
				continue
			}
			wg.Go(func() {
				inst, err := d.mgr.Adopt(ctx, r.spec(name), pi, d.lineFunc(name, r.ID))
				if err != nil {
					d.log.Warn("edge: not adopted; starting it again if it should run", slog.String("env", name),
						slog.Int64("release", r.ID), slog.Int("pid", pi.PID), slog.Any("err", err))
					return
				}
				amu.Lock()
				got = append(got, adopted{name, r.ID, inst})
				amu.Unlock()
			})
		}
	}
	d.mu.Unlock()
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range got {
		er := d.env(a.env)
		er.insts[a.rel] = a.inst
		d.watchLocked(a.env, a.rel, a.inst)
		d.adopted++
	}
	for name, er := range d.envs {
		d.reconcileLocked(name, er)
		// Adopted warm instances are not in the new manager's rollback
		// window: give them one.
		for _, w := range er.desired.Warm {
			if inst := er.insts[w.ID]; inst != nil && w.ID != er.desired.Live {
				time.AfterFunc(d.warmFor(), func() { d.expireAdopted(name, w.ID, inst) })
			}
		}
	}
	d.saveLocked()
	d.log.Info("edge state restored", slog.Int("environments", len(d.envs)), slog.Int("adopted", d.adopted))
	return nil
}

func (d *Daemon) warmFor() time.Duration {
	if d.opts.WarmFor > 0 {
		return d.opts.WarmFor
	}
	return 10 * time.Minute
}

func (d *Daemon) expireAdopted(env string, rel int64, inst *deploy.Instance) {
	d.mu.Lock()
	defer d.mu.Unlock()
	er := d.envs[env]
	if er == nil || er.insts[rel] != inst || er.desired.Live == rel || hasRelease(er.desired.Releases, rel) {
		return
	}
	delete(er.insts, rel)
	go func() { _ = d.mgr.Stop(context.Background(), inst) }()
}

// Put replaces env's desired state if its generation is still
// want.Generation, and returns the new generation. The work (listening,
// starting, switching, stopping) follows in the background; Status shows
// how far it got.
func (d *Daemon) Put(want Desired) (int64, error) {
	if err := validate(want); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frozen {
		return 0, errHandedOver
	}
	er := d.env(want.Env)
	if er.desired.Generation != want.Generation {
		return er.desired.Generation, &conflictError{current: er.desired.Generation}
	}
	for _, r := range want.Releases {
		delete(er.failed, r.ID) // still or again desired: try again
	}
	want.Generation++
	er.desired = want
	d.reconcileLocked(want.Env, er)
	d.saveLocked()
	return want.Generation, nil
}

// Delete stops env (its edge and every instance) and forgets it, if its
// generation is still gen.
func (d *Daemon) Delete(env string, gen int64) error {
	d.mu.Lock()
	er := d.envs[env]
	if er == nil {
		d.mu.Unlock()
		return nil
	}
	if er.desired.Generation != gen {
		d.mu.Unlock()
		return &conflictError{current: er.desired.Generation}
	}
	delete(d.envs, env)
	d.saveLocked()
	d.mu.Unlock()
	return d.mgr.StopEnv(env)
}

// reconcileLocked moves env towards its desired state. Starts run in the
// background and call it again when they end. The caller holds d.mu.
func (d *Daemon) reconcileLocked(name string, er *envRun) {
	ds := er.desired
	if ds.EdgeAddr != "" {
		addr := ds.EdgeAddr
		if er.bound != "" && anyPort(addr) {
			addr = er.bound
		}
		bound, err := d.mgr.EnsureEdge(name, addr)
		er.edgeErr = err
		if err == nil {
			er.bound = bound
		}
	}
	for _, r := range ds.Releases {
		if er.insts[r.ID] != nil || er.starting[r.ID] {
			continue
		}
		if _, failed := er.failed[r.ID]; failed {
			continue
		}
		// A warm instance of the release (a rollback) serves again.
		if inst := d.mgr.Warm(name, r.ID); inst != nil {
			er.insts[r.ID] = inst
			continue
		}
		er.starting[r.ID] = true
		go d.start(name, r)
	}
	er.switchErr = nil
	if inst := er.insts[ds.Live]; inst != nil && d.mgr.Status(name).LiveReleaseID != ds.Live {
		if _, err := d.mgr.Switch(name, inst); err != nil {
			er.switchErr = err
		}
	}
	live := d.mgr.Status(name).LiveReleaseID
	for rel, inst := range er.insts {
		if rel == live || rel == ds.Live || hasRelease(ds.Releases, rel) || hasRelease(ds.Warm, rel) {
			continue
		}
		delete(er.insts, rel)
		go func() { _ = d.mgr.Stop(context.Background(), inst) }()
	}
}

func (d *Daemon) start(env string, r Release) {
	timeout := r.HealthTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	began := time.Now()
	inst, err := d.mgr.StartInstance(ctx, r.spec(env), d.lineFunc(env, r.ID))
	d.mu.Lock()
	defer d.mu.Unlock()
	er := d.envs[env]
	if er != nil {
		delete(er.starting, r.ID)
	}
	if err != nil {
		if er != nil {
			er.failed[r.ID] = failureOf(r.ID, err, began)
		}
		d.log.Warn("edge: start failed", slog.String("env", env), slog.Int64("release", r.ID), slog.Any("err", err))
		return
	}
	if er == nil || !hasRelease(er.desired.Releases, r.ID) || d.frozen {
		go func() { _ = d.mgr.Stop(context.Background(), inst) }()
		return
	}
	er.insts[r.ID] = inst
	d.watchLocked(env, r.ID, inst)
	d.reconcileLocked(env, er)
	d.saveLocked()
}

// watchLocked forgets inst once it has stopped for good.
func (d *Daemon) watchLocked(env string, rel int64, inst *deploy.Instance) {
	go func() {
		<-inst.Done()
		d.mu.Lock()
		defer d.mu.Unlock()
		if er := d.envs[env]; er != nil && er.insts[rel] == inst {
			delete(er.insts, rel)
			d.saveLocked()
		}
	}()
}

func failureOf(rel int64, err error, began time.Time) Failure {
	f := Failure{ReleaseID: rel, Error: err.Error(), At: time.Now().UTC(), Took: time.Since(began)}
	var se *deploy.StartError
	if errors.As(err, &se) {
		f.Detail, f.Exit, f.Output = se.Detail, se.Exit, se.Output
		f.Error = se.Err.Error()
	}
	f.Exited = errors.Is(err, deploy.ErrExited)
	f.Unhealthy = errors.Is(err, deploy.ErrUnhealthy) || errors.Is(err, context.DeadlineExceeded)
	return f
}

// saveLocked writes the state file. The caller holds d.mu.
func (d *Daemon) saveLocked() {
	if d.frozen {
		return
	}
	st := stateFile{Envs: map[string]*envRecord{}}
	for name, er := range d.envs {
		rec := &envRecord{Desired: er.desired, Bound: er.bound, Processes: map[int64]deploy.ProcessInfo{}}
		for rel, inst := range er.insts {
			if pi := inst.Process(); pi.PID != 0 {
				rec.Processes[rel] = pi
			}
		}
		st.Envs[name] = rec
	}
	b, err := json.Marshal(st)
	if err == nil {
		err = writeFileAtomic(d.statePath, b)
	}
	if err != nil {
		d.log.Error("edge: cannot write the state file", slog.String("file", d.statePath), slog.Any("err", err))
	}
}

// Status reports env.
func (d *Daemon) Status(env string) (Status, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	er := d.envs[env]
	if er == nil {
		return Status{Env: env, Instances: []Instance{}}, false
	}
	ms := d.mgr.Status(env)
	st := Status{Env: env, Generation: er.desired.Generation, EdgeAddr: ms.EdgeAddr, Live: ms.LiveReleaseID, Instances: []Instance{}}
	if er.edgeErr != nil {
		st.EdgeError = er.edgeErr.Error()
		st.EdgeAddrInUse = errors.Is(er.edgeErr, deploy.ErrAddrInUse)
	}
	proc := func(rel int64) deploy.ProcessInfo {
		if inst := er.insts[rel]; inst != nil {
			return inst.Process()
		}
		return deploy.ProcessInfo{}
	}
	if ms.Live != nil {
		st.Instances = append(st.Instances, Instance{InstanceStatus: *ms.Live, Role: "live", Process: proc(ms.LiveReleaseID)})
	}
	for _, w := range ms.Warm {
		st.Instances = append(st.Instances, Instance{InstanceStatus: w, Role: "warm", Process: proc(w.ReleaseID)})
	}
	for _, o := range ms.Other {
		st.Instances = append(st.Instances, Instance{InstanceStatus: o, Role: "other", Process: proc(o.ReleaseID)})
	}
	for _, f := range er.failed {
		st.Failed = append(st.Failed, f)
	}
	return st, true
}

// Envs lists the environments the edge knows.
func (d *Daemon) Envs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for n := range d.envs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Desired returns env's desired state.
func (d *Daemon) Desired(env string) Desired {
	d.mu.Lock()
	defer d.mu.Unlock()
	if er := d.envs[env]; er != nil {
		return er.desired
	}
	return Desired{Env: env}
}

// Info describes the edge.
func (d *Daemon) Info() Info {
	use, notice, err := d.mgr.Sandbox()
	d.mu.Lock()
	defer d.mu.Unlock()
	in := Info{PID: os.Getpid(), Version: d.opts.Version, ReleasesDir: filepath.Join(d.opts.DataDir, "releases"),
		WorkDir: filepath.Join(d.opts.DataDir, "appdata"), Sandboxed: use, Notice: notice, StartedAt: d.started, Adopted: d.adopted}
	if err != nil {
		in.SandboxErr = err.Error()
	}
	return in
}

// HandOver stops writing the state file (the successor owns it now),
// closes every edge listener gracefully, and leaves the app processes
// running for the successor.
func (d *Daemon) HandOver(ctx context.Context) error {
	d.leave()
	d.mu.Lock()
	d.frozen = true
	d.mu.Unlock()
	return d.mgr.Abandon(ctx)
}

// Close stops every edge and every app: the end of the edge's service.
func (d *Daemon) Close(ctx context.Context) error {
	d.leave()
	d.mu.Lock()
	d.frozen = true // the state stays: a restarted edge starts the releases again
	d.mu.Unlock()
	return d.mgr.Close(ctx)
}

// leave ends the event streams.
func (d *Daemon) leave() { d.leaveOnce.Do(func() { close(d.leaving) }) }

// Leaving is closed once the daemon hands over or closes.
func (d *Daemon) Leaving() <-chan struct{} { return d.leaving }

// onEvent passes an instance event to subscribers, and records a
// restarted instance's new process.
func (d *Daemon) onEvent(ev deploy.Event) {
	d.publish(Message{Type: "event", Env: ev.Env, ReleaseID: ev.ReleaseID, Event: &ev})
	if ev.Kind == deploy.EventRestarted {
		d.mu.Lock()
		d.saveLocked()
		d.mu.Unlock()
	}
}

func (d *Daemon) lineFunc(env string, rel int64) func(string) {
	return func(line string) {
		d.publish(Message{Type: "line", Env: env, ReleaseID: rel, Line: line})
	}
}

// subscribe returns a channel of messages; a subscriber that does not keep
// up loses messages rather than slowing an app down.
func (d *Daemon) subscribe() chan Message {
	ch := make(chan Message, 4096)
	d.subMu.Lock()
	d.subs[ch] = struct{}{}
	d.subMu.Unlock()
	return ch
}

func (d *Daemon) unsubscribe(ch chan Message) {
	d.subMu.Lock()
	delete(d.subs, ch)
	d.subMu.Unlock()
}

func (d *Daemon) publish(m Message) {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	for ch := range d.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

func hasRelease(rs []Release, id int64) bool {
	return slices.ContainsFunc(rs, func(r Release) bool { return r.ID == id })
}

func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && (port == "0" || port == "")
}

var errHandedOver = errors.New("this edge is handing over to its successor; retry")

// conflictError is a generation mismatch.
type conflictError struct{ current int64 }

func (e *conflictError) Error() string {
	return fmt.Sprintf("the desired state changed meanwhile: its generation is %d", e.current)
}

// invalidError is a desired state the edge refuses.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func validate(ds Desired) error {
	bad := func(f string, a ...any) error { return &invalidError{fmt.Sprintf(f, a...)} }
	switch {
	case ds.Env == "":
		return bad("env is empty")
	case ds.Generation < 0:
		return bad("generation %d is negative", ds.Generation)
	}
	if ds.EdgeAddr != "" {
		if _, _, err := net.SplitHostPort(ds.EdgeAddr); err != nil {
			return bad("edge_addr %q is not host:port", ds.EdgeAddr)
		}
	}
	seen := map[int64]bool{}
	for _, r := range slices.Concat(ds.Releases, ds.Warm) {
		switch {
		case r.ID <= 0:
			return bad("release id %d must be positive", r.ID)
		case seen[r.ID]:
			return bad("release %d is listed twice", r.ID)
		case r.Instances > 1:
			return bad("release %d: %d instances asked; this edge runs one per release", r.ID, r.Instances)
		case r.Command == "" || r.Dir == "":
			return bad("release %d needs a command and a dir", r.ID)
		}
		seen[r.ID] = true
	}
	if ds.Live != 0 && !hasRelease(ds.Releases, ds.Live) {
		return bad("live release %d is not among the releases", ds.Live)
	}
	return nil
}
