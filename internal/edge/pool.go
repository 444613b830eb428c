package edge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
)

// maxWarm bounds the warm releases a desired state lists; the edge's
// manager keeps fewer pools warm anyway (deploy.Options.MaxWarm).
const maxWarm = 8

// livePool returns the live pool's instances of rel that are healthy.
func livePool(st Status, rel int64) (healthy, all int) {
	for _, in := range st.Instances {
		if in.Role == "live" && in.ReleaseID == rel {
			all++
			if in.State == deploy.StateHealthy {
				healthy++
			}
		}
	}
	return healthy, all
}

// failureOfRelease returns rel's failure in st, if any.
func failureOfRelease(st Status, rel int64) *Failure {
	for _, f := range st.Failed {
		if f.ReleaseID == rel {
			return &f
		}
	}
	return nil
}

// makeLive moves rel (as r) to the live release of ds and the release it
// replaces to the warm ones, and returns that release's ID.
func makeLive(ds *Desired, r Release) int64 {
	prev := ds.Live
	if prev != r.ID {
		if old, ok := ds.live(); ok {
			ds.Warm = append(ds.Warm, old)
		}
	}
	ds.Warm = slices.DeleteFunc(ds.Warm, func(w Release) bool { return w.ID == r.ID })
	if len(ds.Warm) > maxWarm {
		ds.Warm = ds.Warm[len(ds.Warm)-maxWarm:]
	}
	ds.Releases = []Release{r}
	ds.Live = r.ID
	return prev
}

// Rollout implements deploy.Engine: the release becomes the live one of
// the environment's desired state with spec.Instances instances, and the
// edge brings it there as the in-process engine does (all at once when
// nothing else serves, else rolling in batches; the replaced pool stays
// warm). The steps the edge reports go to progress. When the rollout
// fails, the edge put the previous pool back, and the desired state names
// it again.
func (c *Client) Rollout(ctx context.Context, spec deploy.RolloutSpec, progress func(string)) (deploy.RolloutResult, error) {
	if progress == nil {
		progress = func(string) {}
	}
	n := max(spec.Instances, 1)
	if n > deploy.MaxInstances || spec.Instances < 0 {
		return deploy.RolloutResult{}, fmt.Errorf("edge: rollout of release %d in %s: %w: %d instances, want 1 to %d",
			spec.ReleaseID, spec.Env, deploy.ErrInvalid, spec.Instances, deploy.MaxInstances)
	}
	env, rel := spec.Env, spec.ReleaseID
	if _, err := deploy.ParseBalance(string(spec.Balance)); err != nil {
		return deploy.RolloutResult{}, fmt.Errorf("edge: rollout of release %d in %s: %w", spec.ReleaseID, spec.Env, err)
	}
	r := Release{ID: rel, Instances: n, Batch: spec.Batch, Balance: spec.Balance, Dir: spec.Dir, Command: spec.Command, Vars: spec.Vars, HealthPath: spec.HealthPath}
	if dl, ok := ctx.Deadline(); ok {
		r.HealthTimeout = time.Until(dl)
	}
	// A new handle passes on the lines from now on: a release that ran
	// before has its older lines stored already.
	h := c.handle(env, rel, spec.Lines, spec.Output, c.lastSeq(ctx, env, rel))
	h.progress.Store(&progress)
	defer h.progress.Store(nil)
	stopped := func() {
		if spec.Stopped != nil {
			spec.Stopped()
		}
	}

	var prev int64
	var prevRelease Release
	err := c.update(ctx, env, func(ds *Desired) error {
		prevRelease, _ = ds.live()
		prev = makeLive(ds, r)
		return nil
	})
	if err != nil {
		c.dropHandle(env, rel, h)
		stopped()
		return deploy.RolloutResult{}, err
	}
	if prev == rel {
		progress(fmt.Sprintf("release %d already serves through the edge: its pool goes to %d instance(s)", rel, n))
	}
	var fail *Failure
	_, err = c.waitFor(ctx, env, func(st Status) (bool, error) {
		if f := failureOfRelease(st, rel); f != nil {
			fail = f
			return true, nil
		}
		if st.Live != rel || st.Busy {
			return false, nil
		}
		if st.ScaleError != "" {
			return true, fmt.Errorf("edge: release %d in %s serves, but its pool could not grow to %d: %s", rel, env, n, st.ScaleError)
		}
		healthy, all := livePool(st, rel)
		return healthy == n && all == n, nil
	})
	if fail != nil || (err != nil && prev != rel) {
		// The edge kept (or put back) the previous pool: say so, so that
		// nothing tries this release again on its own.
		_ = c.update(context.WithoutCancel(ctx), env, func(ds *Desired) error {
			if ds.Live != rel {
				return nil
			}
			ds.Releases, ds.Live = nil, 0
			if prev != 0 {
				makeLive(ds, prevRelease)
			}
			return nil
		})
		c.dropHandle(env, rel, h)
		stopped()
		if fail != nil {
			fail.Output = maskAll(spec.Lines, fail.Output)
			fail.Detail = strings.Join(maskAll(spec.Lines, []string{fail.Detail}), " ")
			if fail.Exit != nil {
				fail.Exit.Lines = maskAll(spec.Lines, fail.Exit.Lines)
			}
			return deploy.RolloutResult{}, fail.startError(spec.InstanceSpec)
		}
		return deploy.RolloutResult{}, &deploy.StartError{Env: env, ReleaseID: rel, Err: err}
	}
	if err != nil {
		return deploy.RolloutResult{}, err
	}
	h.ready.Store(true)
	go func() { <-h.inst.Done(); stopped() }()
	res := deploy.RolloutResult{Instances: n}
	if prev != 0 && prev != rel {
		res.Previous, res.Rolling = prev, true
	}
	return res, nil
}

// SwitchWarm implements deploy.Engine: the warm pool of releaseID goes
// live again, all at once, and the live one stays warm in turn.
func (c *Client) SwitchWarm(env string, releaseID int64) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.HealthTimeout)
	defer cancel()
	notWarm := fmt.Errorf("edge: switch %s back to release %d: %w", env, releaseID, deploy.ErrNotWarm)
	st, ok, err := c.EnvStatus(ctx, env)
	if err != nil {
		return 0, err
	}
	warm := 0
	for _, in := range st.Instances {
		if in.Role == "warm" && in.ReleaseID == releaseID && in.Routable {
			warm++
		}
	}
	if !ok || warm == 0 {
		return 0, notWarm
	}
	err = c.update(ctx, env, func(ds *Desired) error {
		i := slices.IndexFunc(ds.Warm, func(r Release) bool { return r.ID == releaseID })
		if i < 0 {
			return notWarm // the edge would have to start it anew
		}
		r := ds.Warm[i]
		r.Instances = warm
		makeLive(ds, r)
		return nil
	})
	if err != nil {
		return 0, err
	}
	st, err = c.waitFor(ctx, env, func(st Status) (bool, error) {
		if f := failureOfRelease(st, releaseID); f != nil {
			return true, fmt.Errorf("edge: switch %s back to release %d: %s", env, releaseID, f.Error)
		}
		return st.Live == releaseID && !st.Busy, nil
	})
	if err != nil {
		return 0, err
	}
	_, all := livePool(st, releaseID)
	return all, nil
}

// Scale implements deploy.Engine: the live release's pool gets n
// instances, without a deploy. With nothing live there is nothing to
// scale (the next rollout names its size).
func (c *Client) Scale(ctx context.Context, env string, n int) error {
	if n < 1 || n > deploy.MaxInstances {
		return fmt.Errorf("edge: scale %s: %w: %d instances, want 1 to %d", env, deploy.ErrInvalid, n, deploy.MaxInstances)
	}
	live := int64(0)
	err := c.update(ctx, env, func(ds *Desired) error {
		live = ds.Live
		for i := range ds.Releases {
			if ds.Releases[i].ID == ds.Live {
				ds.Releases[i].Instances = n
			}
		}
		return nil
	})
	if err != nil || live == 0 {
		return err
	}
	_, err = c.waitFor(ctx, env, func(st Status) (bool, error) {
		switch {
		case st.ScaleError != "":
			return true, fmt.Errorf("edge: scale %s to %d: %s", env, n, st.ScaleError)
		case st.Live != live:
			return true, errors.New("edge: scale " + env + ": another release went live meanwhile")
		case st.Busy:
			return false, nil
		}
		healthy, all := livePool(st, live)
		return healthy == n && all == n, nil
	})
	return err
}
