package edge

import (
	"cmp"
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
	"sync/atomic"
	"syscall"
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
	// BacklogLines and BacklogBytes bound the backlog of each release's
	// output kept for a portal that is away (DefaultBacklogLines and
	// DefaultBacklogBytes when 0).
	BacklogLines int
	BacklogBytes int64
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
	if o.BacklogLines <= 0 {
		o.BacklogLines = DefaultBacklogLines
	}
	if o.BacklogBytes <= 0 {
		o.BacklogBytes = DefaultBacklogBytes
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
	subs  map[chan Message]*atomic.Bool // set when a message to it was dropped
	// leaving is closed by HandOver and Close: event streams end, so that
	// the control server's shutdown does not wait for them.
	leaving   chan struct{}
	leaveOnce sync.Once

	// journals hold the backlog of each release's output (see journal).
	jmu      sync.Mutex
	journals map[handleKey]*journal
	// holding is set while a predecessor may still write the journals.
	holding atomic.Bool
}

// envRun is one environment as the edge runs it. Guarded by Daemon.mu.
type envRun struct {
	desired Desired
	bound   string
	edgeErr error
	// busy is set while a rollout, a switch back or a scale of the
	// environment runs; its end reconciles again.
	busy bool
	// failed holds the releases whose last rollout failed: they are not
	// tried again until a desired state lists them anew.
	failed map[int64]Failure
	// scaleErr is why the last scale of the live pool failed.
	scaleErr error
}

// New returns a Daemon; call Restore, then serve its Handler.
func New(opts Options) *Daemon {
	opts = opts.withDefaults()
	d := &Daemon{opts: opts, log: opts.Logger, started: time.Now(), envs: map[string]*envRun{},
		statePath: filepath.Join(filepath.Dir(opts.Socket), "edge-state.json"), subs: map[chan Message]*atomic.Bool{}, leaving: make(chan struct{}),
		journals: map[handleKey]*journal{}}
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
		er = &envRun{desired: Desired{Env: name}, failed: map[int64]Failure{}}
		d.envs[name] = er
	}
	return er
}

// Restore reads the state file and brings every environment back: its
// edge on the address it had, and its pools re-adopted whole (the
// processes whose pid and start time still match and that answer their
// health check), the pool that served serving again at once. Then each
// environment is reconciled: missing instances of the live pool start
// again, and a release that should be live but was not yet gets there.
func (d *Daemon) Restore(ctx context.Context) error {
	st, err := loadState(d.statePath)
	if err != nil {
		return err
	}
	d.mu.Lock()
	for name, rec := range st.Envs {
		er := d.env(name)
		er.desired, er.bound = rec.Desired, rec.Bound
		// The edge listens once its pools are adopted (reconcileLocked
		// below): an edge that served before would answer 502 for want of
		// a live pool. After an upgrade the predecessor serves meanwhile.
	}
	d.mu.Unlock()

	var wg sync.WaitGroup
	var amu sync.Mutex
	adopted := 0
	for name, rec := range st.Envs {
		for rel, procs := range rec.pools() {
			r, ok := rec.release(rel)
			if !ok {
				// Nothing says how to run it any more: end it rather
				// than leave it holding a port.
				for _, pi := range procs {
					d.endStray(name, rel, pi)
				}
				continue
			}
			wg.Go(func() {
				insts, err := d.mgr.AdoptPool(ctx, deploy.RolloutSpec{InstanceSpec: r.spec(name), Balance: r.Balance, Output: d.lineFunc(name, rel)},
					procs, rel == rec.serving())
				if err != nil {
					d.log.Warn("edge: not every instance was adopted; missing ones start again if they should run",
						slog.String("env", name), slog.Int64("release", rel), slog.Int("adopted", len(insts)),
						slog.Int("recorded", len(procs)), slog.Any("err", err))
				}
				amu.Lock()
				adopted += len(insts)
				amu.Unlock()
			})
		}
	}
	wg.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	d.adopted = adopted
	for name, er := range d.envs {
		d.reconcileLocked(name, er)
	}
	d.saveLocked()
	d.sweepJournalsLocked()
	d.log.Info("edge state restored", slog.Int("environments", len(d.envs)), slog.Int("adopted", d.adopted))
	return nil
}

// endStray ends a recorded process of a release the desired state no
// longer names, if pi still identifies it: SIGTERM to its group, SIGKILL
// after the stop timeout.
func (d *Daemon) endStray(env string, rel int64, pi deploy.ProcessInfo) {
	if !pi.Running() {
		return
	}
	d.log.Warn("edge: ending a process of a release nothing wants any more", slog.String("env", env),
		slog.Int64("release", rel), slog.Int("pid", pi.PID))
	_ = syscall.Kill(-pi.PID, syscall.SIGTERM)
	go func() {
		grace := cmp.Or(d.opts.StopTimeout, 30*time.Second)
		for deadline := time.Now().Add(grace); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if !pi.Running() {
				return
			}
		}
		_ = syscall.Kill(-pi.PID, syscall.SIGKILL)
	}()
}

// Put replaces env's desired state if its generation is still
// want.Generation, and returns the new generation. The work (listening,
// rolling out, switching back, scaling, stopping) follows in the
// background; Status shows how far it got.
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
		if !hasRelease(er.desired.Releases, r.ID) {
			delete(er.failed, r.ID) // desired again: try again
		}
	}
	er.scaleErr = nil
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
	err := d.mgr.StopEnv(env)
	d.dropEnvJournals(env)
	return err
}

// reconcileLocked moves env towards its desired state: its edge listens,
// and unless an operation runs already, the live release's pool is rolled
// out, switched back to or scaled in the background (whose end calls this
// again); releases that are neither live nor warm stop. The caller holds
// d.mu.
func (d *Daemon) reconcileLocked(name string, er *envRun) {
	if d.frozen {
		return
	}
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
	if er.busy {
		return
	}
	ms := d.mgr.Status(name)
	if r, ok := ds.live(); ok {
		n := max(r.Instances, 1)
		_, failed := er.failed[r.ID]
		switch {
		case ms.LiveReleaseID != r.ID && !failed:
			d.goOp(name, er, r, func(ctx context.Context) error { return d.bringLive(ctx, name, r) })
			return
		case ms.LiveReleaseID == r.ID && ms.Desired != n && er.scaleErr == nil:
			d.goOp(name, er, r, func(ctx context.Context) error {
				err := d.mgr.Scale(ctx, name, n)
				if err != nil {
					d.mu.Lock()
					er.scaleErr = err
					d.mu.Unlock()
				}
				return nil
			})
			return
		}
	}
	// Nothing runs: what is neither live, nor wanted live, nor allowed
	// warm stops.
	for _, ri := range d.mgr.Running(name) {
		if ri.Live || ri.ReleaseID == ds.Live || hasRelease(ds.Warm, ri.ReleaseID) {
			continue
		}
		d.mgr.StopRelease(name, ri.ReleaseID)
	}
	d.sweepEnvJournalsLocked(name)
}

// bringLive puts r's pool live: its warm pool at once when there is one,
// else a rollout (rolling when another release serves).
func (d *Daemon) bringLive(ctx context.Context, env string, r Release) error {
	if d.mgr.Warm(env, r.ID) != nil {
		n, err := d.mgr.SwitchWarm(env, r.ID)
		if err == nil {
			d.publish(Message{Type: "progress", Env: env, ReleaseID: r.ID,
				Line: fmt.Sprintf("switched back to the %d warm instance(s) of release %d, all at once", n, r.ID)})
			return nil
		}
		if !errors.Is(err, deploy.ErrNotWarm) {
			return err
		}
	}
	_, err := d.mgr.Rollout(ctx, deploy.RolloutSpec{InstanceSpec: r.spec(env), Instances: max(r.Instances, 1), Batch: r.Batch,
		Balance: r.Balance, Output: d.lineFunc(env, r.ID)}, func(line string) {
		d.publish(Message{Type: "progress", Env: env, ReleaseID: r.ID, Line: line})
		d.saveSoon() // a new process runs: a crashed edge's successor must know it
	})
	return err
}

// goOp runs op for env's release r in the background; a failure is
// recorded as r's, and the end reconciles again. The caller holds d.mu.
func (d *Daemon) goOp(name string, er *envRun, r Release, op func(context.Context) error) {
	er.busy = true
	timeout := r.HealthTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		began := time.Now()
		err := op(ctx)
		d.mu.Lock()
		defer d.mu.Unlock()
		er.busy = false
		if err != nil {
			er.failed[r.ID] = failureOf(r.ID, err, began)
			d.log.Warn("edge: release not live", slog.String("env", name), slog.Int64("release", r.ID), slog.Any("err", err))
		}
		if d.envs[name] == er {
			d.reconcileLocked(name, er)
		}
		d.saveLocked()
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
		rec := &envRecord{Desired: er.desired, Bound: er.bound, Pools: map[int64][]deploy.ProcessInfo{}}
		for _, ri := range d.mgr.Running(name) {
			rec.Pools[ri.ReleaseID] = append(rec.Pools[ri.ReleaseID], ri.Process)
			if ri.Live {
				rec.Serving = ri.ReleaseID
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
	st := Status{Env: env, Generation: er.desired.Generation, EdgeAddr: ms.EdgeAddr, Live: ms.LiveReleaseID,
		Desired: ms.Desired, Balance: ms.Balance, Busy: er.busy, Instances: []Instance{}}
	if er.edgeErr != nil {
		st.EdgeError = er.edgeErr.Error()
		st.EdgeAddrInUse = errors.Is(er.edgeErr, deploy.ErrAddrInUse)
	}
	if er.scaleErr != nil {
		st.ScaleError = er.scaleErr.Error()
	}
	procs := map[[2]int64]deploy.ProcessInfo{}
	for _, ri := range d.mgr.Running(env) {
		procs[[2]int64{ri.ReleaseID, int64(ri.Process.Slot)}] = ri.Process
	}
	add := func(role string, in deploy.InstanceStatus) {
		st.Instances = append(st.Instances, Instance{InstanceStatus: in, Role: role, Process: procs[[2]int64{in.ReleaseID, int64(in.Slot)}]})
	}
	for _, in := range ms.Pool {
		add("live", in)
	}
	for _, in := range ms.Warm {
		add("warm", in)
	}
	for _, in := range ms.Other {
		add("other", in)
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
	switch ev.Kind {
	case deploy.EventRestarted:
		d.saveSoon()
	case deploy.EventStopped:
		go d.releaseStopped(ev.Env, ev.ReleaseID)
	}
}

// saveSoon writes the state file from another goroutine: the manager may
// hold its own lock where it reports progress and events, and Daemon.mu is
// always taken before it.
func (d *Daemon) saveSoon() {
	go func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.saveLocked()
	}()
}

// lineFunc numbers each output line of env's release rel, keeps it in
// the release's journal and passes it to subscribers.
func (d *Daemon) lineFunc(env string, rel int64) func(string) {
	return func(line string) { d.record(env, rel, line) }
}

// subscribe returns a channel of messages; a subscriber that does not keep
// up loses messages rather than slowing an app down, and lost is set when
// it did: the events stream then says so, and the client reads the lines
// it lost from the backlog.
func (d *Daemon) subscribe() (ch chan Message, lost *atomic.Bool) {
	ch, lost = make(chan Message, 4096), new(atomic.Bool)
	d.subMu.Lock()
	d.subs[ch] = lost
	d.subMu.Unlock()
	return ch, lost
}

func (d *Daemon) unsubscribe(ch chan Message) {
	d.subMu.Lock()
	delete(d.subs, ch)
	d.subMu.Unlock()
}

func (d *Daemon) publish(m Message) {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	for ch, lost := range d.subs {
		select {
		case ch <- m:
		default:
			lost.Store(true)
		}
	}
}

func validBalance(b deploy.Balance) bool {
	_, err := deploy.ParseBalance(string(b))
	return err == nil
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
		case r.Instances < 0 || r.Instances > deploy.MaxInstances:
			return bad("release %d: %d instances asked, want 1 to %d", r.ID, r.Instances, deploy.MaxInstances)
		case r.Batch < 0 || r.Batch > deploy.MaxInstances:
			return bad("release %d: batch %d, want 0 (a quarter of the instances) to %d", r.ID, r.Batch, deploy.MaxInstances)
		case !validBalance(r.Balance):
			return bad("release %d: balance %q, want %s or %s", r.ID, r.Balance, deploy.BalanceLeastOutstanding, deploy.BalanceRoundRobin)
		case r.Command == "" || r.Dir == "":
			return bad("release %d needs a command and a dir", r.ID)
		}
		seen[r.ID] = true
	}
	if ds.Live != 0 && !hasRelease(ds.Releases, ds.Live) {
		return bad("live release %d is not among the releases", ds.Live)
	}
	for _, r := range ds.Releases {
		if r.ID != ds.Live {
			return bad("release %d is listed to run but is not the live one: the edge runs the live release's pool and keeps warm ones", r.ID)
		}
	}
	return nil
}
