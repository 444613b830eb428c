package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// RunningInstance is one instance of an environment with its process, for
// a successor to adopt it with AdoptPool.
type RunningInstance struct {
	ReleaseID int64
	Process   ProcessInfo
	// Live is set when the instance is in the pool the edge serves.
	Live bool
}

// Running lists env's instances that have a process and are not on their
// way out, ordered by release and slot.
func (m *Manager) Running(env string) []RunningInstance {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.envs[env]
	if e == nil {
		return nil
	}
	live := e.live.Load()
	var out []RunningInstance
	for inst := range e.instances {
		if inst.retiring {
			continue
		}
		if pi := inst.Process(); pi.PID != 0 {
			out = append(out, RunningInstance{ReleaseID: inst.releaseID, Process: pi, Live: live.has(inst)})
		}
	}
	slices.SortFunc(out, func(a, b RunningInstance) int {
		return cmp.Or(cmp.Compare(a.ReleaseID, b.ReleaseID), cmp.Compare(a.Process.Slot, b.Process.Slot))
	})
	return out
}

// AdoptPool takes over the running processes of one release's pool that
// an earlier manager started (see Adopt), concurrently, and makes them a
// pool again: the live one when live is set (the edge serves it at once,
// and Scale or a later Rollout of the release works on it as on a pool
// this manager started), else a warm one, for the rollback window. spec
// carries the release's InstanceSpec, Output and Stopped; its Instances is
// not used. It returns the instances it adopted, by slot; the processes it
// could not adopt are left alone, and their errors are joined in err.
func (m *Manager) AdoptPool(ctx context.Context, spec RolloutSpec, procs []ProcessInfo, live bool) ([]*Instance, error) {
	if len(procs) == 0 {
		return nil, nil
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("deploy: adopt release %d in %s: %w", spec.ReleaseID, spec.Env, ErrClosed)
	}
	e := m.envLocked(spec.Env)
	set := e.sets[spec.ReleaseID]
	if set == nil {
		set = &releaseSet{spec: spec.InstanceSpec, balance: spec.Balance, output: spec.Output, stopped: spec.Stopped}
		e.sets[spec.ReleaseID] = set
	}
	set.running++ // held while adopting, so that a failed adoption does not end the set
	m.mu.Unlock()

	var mu sync.Mutex
	var insts []*Instance
	var errs []error
	var wg sync.WaitGroup
	for _, pi := range procs {
		wg.Go(func() {
			inst, err := m.adopt(ctx, set.spec, pi, set.output, set)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			insts = append(insts, inst)
		})
	}
	wg.Wait()
	slices.SortFunc(insts, func(a, b *Instance) int { return a.slot - b.slot })

	m.mu.Lock()
	defer m.mu.Unlock()
	set.running--
	if set.running == 0 {
		if e.sets[spec.ReleaseID] == set {
			delete(e.sets, spec.ReleaseID)
		}
		if set.stopped != nil {
			go set.stopped()
		}
	}
	if len(insts) == 0 {
		return nil, errors.Join(errs...)
	}
	if m.closed {
		return insts, errors.Join(append(errs, ErrClosed)...)
	}
	if live {
		prev := e.live.Load()
		e.live.Store(newPool(spec.ReleaseID, insts))
		e.setDesired(len(insts))
		if prev != nil {
			m.keepWarmLocked(e, prev.without(insts...).members)
		}
	} else {
		m.keepWarmLocked(e, insts)
	}
	m.log.Info("pool adopted", slog.String("env", spec.Env), slog.Int64("release", spec.ReleaseID),
		slog.Int("instances", len(insts)), slog.Bool("live", live))
	return insts, errors.Join(errs...)
}

// StopRelease drains and stops, in the background, every instance of
// releaseID in env that is not live.
func (m *Manager) StopRelease(env string, releaseID int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.envs[env]
	if e == nil {
		return
	}
	live := e.live.Load()
	for inst := range e.instances {
		if inst.releaseID == releaseID && !live.has(inst) {
			e.removeWarm(inst)
			m.retireLocked(inst)
		}
	}
}
