package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// ErrNotWarm means no healthy warm pool of the release is left.
var ErrNotWarm = errors.New("no warm instance of the release")

// RolloutSpec says how to take one release live on a pool of instances.
type RolloutSpec struct {
	// InstanceSpec is how to run each instance (its Slot is set per instance).
	InstanceSpec
	// Instances is the pool size N, 1 to MaxInstances; 0 means 1.
	Instances int
	// Batch is how many new instances a rolling deploy starts at a time;
	// 0 means a quarter of Instances, at least 1 (more than Instances
	// means all of them).
	Batch int
	// Balance is how the edge spreads requests over the pool ("": the
	// manager's Options.Balance).
	Balance Balance
	// Output receives every instance's output lines (nil keeps them in
	// each instance's ring buffer only). It may be called from several
	// instances at once. Each line starts with its instance's slot, "[2] ",
	// unless the pool is one instance (see Instance.label).
	Output func(line string)
	// Stopped, if set, is called once no instance of the release runs in
	// the environment any more (so Output will not be called again).
	Stopped func()
}

// RolloutResult says what a Rollout did.
type RolloutResult struct {
	// Instances is the size of the new pool.
	Instances int
	// Previous is the release the pool replaced (0 when none); its pool
	// stays warm for the rollback window.
	Previous int64
	// Rolling is true when instances were replaced batch by batch.
	Rolling bool
}

// releaseSet is what the instances of one release in one environment
// share: how to start another one (for Scale), and where their output goes.
type releaseSet struct {
	spec    InstanceSpec
	balance Balance
	output  func(string)
	stopped func()
	running int // guarded by Manager.mu
}

func (s RolloutSpec) size() int { return cmp0(s.Instances, 1) }

func (s RolloutSpec) batch() int {
	b := s.Batch
	if b <= 0 {
		b = s.size() / 4
	}
	return min(max(b, 1), s.size())
}

func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Rollout starts spec's release on spec.Instances instances and puts them
// live. When nothing is live (or the release itself is), they all start
// and the edge switches to the whole set at once. Otherwise the deploy
// rolls: a batch of new instances starts, each joins the pool as soon as it
// is healthy, then as many old instances leave it and are drained (no new
// requests, websockets closed, in-flight requests finish within
// DrainTimeout); and so on until only new instances serve. The old
// instances stay warm as one set for the rollback window (SwitchWarm), and
// are then stopped: SIGTERM, StopTimeout, SIGKILL.
//
// When a new instance fails to start, the rollout aborts: the old set is
// put back in the pool whole, the new instances are drained and stopped,
// and the error is the *StartError. progress receives one line per step.
func (m *Manager) Rollout(ctx context.Context, spec RolloutSpec, progress func(string)) (RolloutResult, error) {
	if progress == nil {
		progress = func(string) {}
	}
	n := spec.size()
	if n < 1 || n > MaxInstances {
		return RolloutResult{}, fmt.Errorf("deploy: rollout of release %d in %s: %w: %d instances, want 1 to %d",
			spec.ReleaseID, spec.Env, ErrInvalid, n, MaxInstances)
	}
	if _, err := m.checkSpec(spec.InstanceSpec); err != nil {
		return RolloutResult{}, err
	}
	if _, err := ParseBalance(string(spec.Balance)); err != nil {
		return RolloutResult{}, fmt.Errorf("deploy: rollout of release %d in %s: %w", spec.ReleaseID, spec.Env, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return RolloutResult{}, fmt.Errorf("deploy: rollout of release %d in %s: %w", spec.ReleaseID, spec.Env, ErrClosed)
	}
	e := m.envLocked(spec.Env)
	m.mu.Unlock()

	e.op.Lock()
	defer e.op.Unlock()
	m.mu.Lock()
	set := &releaseSet{spec: spec.InstanceSpec, balance: spec.Balance, output: spec.Output, stopped: spec.Stopped}
	if old := e.sets[spec.ReleaseID]; old != nil && old.running > 0 {
		set = old // instances of it still run (warm): new ones share their output
		if spec.Stopped != nil {
			go spec.Stopped() // spec.Output will never be called
		}
	} else {
		e.sets[spec.ReleaseID] = set
	}
	e.setDesired(n)
	old := e.live.Load()
	m.mu.Unlock()

	if old == nil || len(old.members) == 0 || old.releaseID == spec.ReleaseID {
		return m.rolloutAtOnce(ctx, e, set, n, progress)
	}
	return m.rolloutRolling(ctx, e, set, old, n, spec.batch(), progress)
}

// rolloutAtOnce starts n instances and switches the edge to all of them.
func (m *Manager) rolloutAtOnce(ctx context.Context, e *envState, set *releaseSet, n int, progress func(string)) (RolloutResult, error) {
	rel := set.spec.ReleaseID
	progress(fmt.Sprintf("starting %d instance(s) of release %d", n, rel))
	insts, err := m.startMembers(ctx, e, set, slotsFrom(1, n), nil, progress)
	if err != nil {
		m.stopAll(context.Background(), insts)
		return RolloutResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return RolloutResult{}, fmt.Errorf("deploy: rollout of release %d in %s: %w", rel, e.name, ErrClosed)
	}
	prev := e.live.Load()
	e.live.Store(newPool(rel, insts))
	m.log.Info("edge switched", slog.String("env", e.name), slog.Int64("release", rel), slog.Int("instances", n))
	res := RolloutResult{Instances: n}
	if prev != nil {
		rest := prev.without(insts...).members
		if len(rest) > 0 {
			res.Previous = prev.releaseID
		}
		m.keepWarmLocked(e, rest)
	}
	progress(fmt.Sprintf("edge switched to all %d instance(s) at once", n))
	return res, nil
}

// rolloutRolling replaces old's instances batch by batch.
func (m *Manager) rolloutRolling(ctx context.Context, e *envState, set *releaseSet, old *pool, n, batch int, progress func(string)) (RolloutResult, error) {
	rel := set.spec.ReleaseID
	olds := slices.Clone(old.members)
	progress(fmt.Sprintf("rolling deploy: %d new instance(s) of release %d replace %d of release %d, %d at a time",
		n, rel, len(olds), old.releaseID, batch))
	join := func(inst *Instance) {
		m.mu.Lock()
		defer m.mu.Unlock()
		e.live.Store(e.live.Load().with(e.live.Load().releaseID, inst))
	}
	var started, out []*Instance
	for len(started) < n || len(out) < len(olds) {
		k := min(batch, n-len(started))
		if k > 0 {
			insts, err := m.startMembers(ctx, e, set, slotsFrom(len(started)+1, k), join, progress)
			started = append(started, insts...)
			if err != nil {
				m.abortRollout(e, old.releaseID, olds, started)
				progress("rolling deploy aborted; the previous instances serve again")
				return RolloutResult{}, err
			}
		}
		k = min(batch, len(olds)-len(out))
		if len(started) == n {
			k = len(olds) - len(out) // every new instance serves: take out the rest
		}
		leaving := olds[len(out) : len(out)+k]
		out = append(out, leaving...)
		m.mu.Lock()
		e.live.Store(e.live.Load().without(leaving...))
		m.mu.Unlock()
		var wg sync.WaitGroup
		for _, o := range leaving {
			progress(fmt.Sprintf("instance %d of release %d leaves the pool and drains", o.slot, o.releaseID))
			wg.Go(func() { o.drain(ctx) })
		}
		wg.Wait()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e.live.Store(newPool(rel, started))
	m.keepWarmLocked(e, olds)
	m.log.Info("rolling deploy done", slog.String("env", e.name), slog.Int64("release", rel), slog.Int("instances", n))
	progress(fmt.Sprintf("all %d instance(s) of release %d serve; release %d stays warm for rollback", n, rel, old.releaseID))
	return RolloutResult{Instances: n, Previous: old.releaseID, Rolling: true}, nil
}

// abortRollout puts the old set back in the pool, whole, and stops the
// new instances.
func (m *Manager) abortRollout(e *envState, oldRelease int64, olds, started []*Instance) {
	m.mu.Lock()
	var kept []*Instance
	for _, o := range olds {
		if o.State() != StateStopped {
			kept = append(kept, o)
		}
	}
	e.live.Store(newPool(oldRelease, kept))
	for _, inst := range started {
		inst.retiring = true
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, inst := range started {
		wg.Go(func() {
			inst.drain(context.Background())
			_ = inst.stop(context.Background())
		})
	}
	wg.Wait()
}

// startMembers starts one instance per slot, concurrently, calling join
// for each as soon as it is healthy. It returns the healthy ones and the
// first failure.
func (m *Manager) startMembers(ctx context.Context, e *envState, set *releaseSet, slots []int, join func(*Instance), progress func(string)) ([]*Instance, error) {
	var mu sync.Mutex
	var insts []*Instance
	var firstErr error
	var wg sync.WaitGroup
	for _, slot := range slots {
		wg.Go(func() {
			inst, err := m.startMember(ctx, e, set, slot)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			progress(fmt.Sprintf("instance %d of release %d is healthy: pid %d on port %d", slot, inst.releaseID, inst.PID(), inst.Port()))
			if join != nil {
				join(inst)
				progress(fmt.Sprintf("instance %d of release %d joined the pool", slot, inst.releaseID))
			}
			insts = append(insts, inst)
		})
	}
	wg.Wait()
	slices.SortFunc(insts, func(a, b *Instance) int { return a.slot - b.slot })
	return insts, firstErr
}

// startMember starts one instance of set in slot and waits until it is healthy.
func (m *Manager) startMember(ctx context.Context, e *envState, set *releaseSet, slot int) (*Instance, error) {
	spec := set.spec
	spec.Slot = slot
	dir, err := m.checkSpec(spec)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("deploy: start release %d in %s: %w", spec.ReleaseID, spec.Env, ErrClosed)
	}
	inst := newInstance(m, e, spec, dir, set.output)
	inst.set = set
	set.running++
	e.instances[inst] = struct{}{}
	m.mu.Unlock()
	ready := make(chan error, 1)
	go inst.run(ctx, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return inst, nil
}

func slotsFrom(first, n int) []int {
	s := make([]int, n)
	for k := range s {
		s[k] = first + k
	}
	return s
}

// SwitchWarm puts the warm instances of releaseID that are healthy and
// pass their health checks back live, all at once,
// and keeps the replaced pool warm in turn. It returns how many instances
// serve, or ErrNotWarm when none of them is warm and healthy.
func (m *Manager) SwitchWarm(env string, releaseID int64) (int, error) {
	m.mu.Lock()
	e := m.envs[env]
	m.mu.Unlock()
	if e == nil {
		return 0, fmt.Errorf("deploy: switch %s back to release %d: %w", env, releaseID, ErrNotWarm)
	}
	e.op.Lock()
	defer e.op.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, fmt.Errorf("deploy: switch %s: %w", env, ErrClosed)
	}
	var set []*Instance
	for _, inst := range e.warm {
		if inst.releaseID == releaseID && inst.routable.Load() && !inst.retiring {
			set = append(set, inst)
		}
	}
	if len(set) == 0 {
		return 0, fmt.Errorf("deploy: switch %s back to release %d: %w", env, releaseID, ErrNotWarm)
	}
	slices.SortFunc(set, func(a, b *Instance) int { return a.slot - b.slot })
	for _, inst := range set {
		e.removeWarm(inst)
	}
	prev := e.live.Load()
	e.live.Store(newPool(releaseID, set))
	e.setDesired(len(set))
	if prev != nil {
		m.keepWarmLocked(e, prev.without(set...).members)
	}
	m.log.Info("edge switched back to a warm pool", slog.String("env", env), slog.Int64("release", releaseID), slog.Int("instances", len(set)))
	return len(set), nil
}

// Scale grows or shrinks env's live pool to n instances of the live
// release without a deploy: new instances join the pool once healthy;
// removed ones (the highest slots) leave it at once and are drained and
// stopped in the background. With nothing live it only records n. The live
// pool must have been started by Rollout (it knows how to start more).
func (m *Manager) Scale(ctx context.Context, env string, n int) error {
	if n < 1 || n > MaxInstances {
		return fmt.Errorf("deploy: scale %s: %w: %d instances, want 1 to %d", env, ErrInvalid, n, MaxInstances)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("deploy: scale %s: %w", env, ErrClosed)
	}
	e := m.envLocked(env)
	m.mu.Unlock()
	e.op.Lock()
	defer e.op.Unlock()

	m.mu.Lock()
	e.setDesired(n)
	p := e.live.Load()
	if p == nil || len(p.members) == 0 {
		m.mu.Unlock()
		return nil
	}
	set := e.sets[p.releaseID]
	if set == nil {
		m.mu.Unlock()
		return fmt.Errorf("deploy: scale %s: %w: the live release was not started as a pool", env, ErrInvalid)
	}
	members := slices.Clone(p.members)
	slices.SortFunc(members, func(a, b *Instance) int { return a.slot - b.slot })
	if len(members) > n {
		leaving := members[n:]
		e.live.Store(p.without(leaving...))
		for _, inst := range leaving {
			m.retireLocked(inst)
		}
		m.mu.Unlock()
		m.log.Info("scaled down", slog.String("env", env), slog.Int("instances", n))
		return nil
	}
	m.mu.Unlock()
	var free []int
	for slot := 1; len(members)+len(free) < n; slot++ {
		if !slices.ContainsFunc(members, func(i *Instance) bool { return i.slot == slot }) {
			free = append(free, slot)
		}
	}
	join := func(inst *Instance) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if cur := e.live.Load(); cur != nil && cur.releaseID == inst.releaseID {
			e.live.Store(cur.with(cur.releaseID, inst))
		} else {
			m.retireLocked(inst) // the pool changed meanwhile
		}
	}
	_, err := m.startMembers(ctx, e, set, free, join, func(string) {})
	if err != nil {
		return fmt.Errorf("deploy: scale %s to %d: %w", env, n, err)
	}
	m.log.Info("scaled up", slog.String("env", env), slog.Int("instances", n))
	return nil
}
