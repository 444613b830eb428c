package edge

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/internal/deploy"
)

// MaxInstances is how many instances of a release the edge process runs
// per environment: one, for now. A pool of several instances needs the
// in-process engine (`slipway serve --edge=inprocess`).
const MaxInstances = 1

// oneInstance says why no more than MaxInstances, and what to do.
const oneInstance = "the edge process (slipway serve --edge=child or --edge-socket) runs only one instance per environment for now; " +
	"start the portal with --edge=inprocess to run more"

// ErrOneInstance is the error of a rollout or scale to more than
// MaxInstances through the edge process; it wraps deploy.ErrInvalid.
var ErrOneInstance = fmt.Errorf("%w: %s", deploy.ErrInvalid, oneInstance)

// InstanceLimit reports how many instances the client can run per
// environment and why not more, so that a form or an API call asking for
// more is refused up front.
func (c *Client) InstanceLimit() (int, string) { return MaxInstances, oneInstance }

func checkInstances(what string, n int) error {
	switch {
	case n < 1 || n > deploy.MaxInstances:
		return fmt.Errorf("edge: %s: %w: %d instances, want 1 to %d", what, deploy.ErrInvalid, n, deploy.MaxInstances)
	case n > MaxInstances:
		return fmt.Errorf("edge: %s to %d instances: %w", what, n, ErrOneInstance)
	}
	return nil
}

// Rollout implements deploy.Engine for one instance: the release starts
// through the desired state, must pass its health check, then goes live;
// the release it replaces stays warm for the rollback window. More than
// one instance is refused with ErrOneInstance.
func (c *Client) Rollout(ctx context.Context, spec deploy.RolloutSpec, progress func(string)) (deploy.RolloutResult, error) {
	if progress == nil {
		progress = func(string) {}
	}
	n := spec.Instances
	if n == 0 {
		n = 1
	}
	if err := checkInstances(fmt.Sprintf("rollout of release %d in %s", spec.ReleaseID, spec.Env), n); err != nil {
		return deploy.RolloutResult{}, err
	}
	stopped := func() {
		if spec.Stopped != nil {
			spec.Stopped()
		}
	}
	// The release is live already (a redeploy of it): it keeps serving.
	if st := c.Status(spec.Env); st.LiveReleaseID == spec.ReleaseID && st.Live != nil && st.Live.State == deploy.StateHealthy {
		if inst := c.Attach(spec.Env, spec.ReleaseID, spec.Lines); inst != nil {
			if spec.Output != nil {
				inst.SetLog(spec.Output)
			}
			go func() { <-inst.Done(); stopped() }()
			progress(fmt.Sprintf("release %d already serves through the edge: 1 instance", spec.ReleaseID))
			return deploy.RolloutResult{Instances: 1}, nil
		}
	}
	progress(fmt.Sprintf("starting 1 instance of release %d", spec.ReleaseID))
	inst, err := c.StartInstance(ctx, spec.InstanceSpec, spec.Output)
	if err != nil {
		stopped()
		return deploy.RolloutResult{}, err
	}
	go func() { <-inst.Done(); stopped() }()
	progress(fmt.Sprintf("healthy: pid %d on port %d", inst.PID(), inst.Port()))
	prev, err := c.Switch(spec.Env, inst)
	if err != nil {
		_ = c.Stop(context.WithoutCancel(ctx), inst)
		return deploy.RolloutResult{}, err
	}
	res := deploy.RolloutResult{Instances: 1}
	if prev != nil {
		res.Previous = prev.ReleaseID()
	}
	progress("edge switched")
	return res, nil
}

// SwitchWarm implements deploy.Engine: the warm instance of releaseID
// goes live again and the live one stays warm in turn.
func (c *Client) SwitchWarm(env string, releaseID int64) (int, error) {
	inst := c.Warm(env, releaseID)
	if inst == nil {
		return 0, fmt.Errorf("edge: switch %s back to release %d: %w", env, releaseID, deploy.ErrNotWarm)
	}
	if _, err := c.Switch(env, inst); err != nil {
		if errors.Is(err, deploy.ErrStopped) || errors.Is(err, deploy.ErrNotHealthy) {
			return 0, fmt.Errorf("%w (%w)", err, deploy.ErrNotWarm)
		}
		return 0, err
	}
	return 1, nil
}

// Scale implements deploy.Engine: the edge process runs one instance per
// environment, so 1 is all there is to do and more is ErrOneInstance.
func (c *Client) Scale(ctx context.Context, env string, n int) error {
	return checkInstances("scale "+env, n)
}
