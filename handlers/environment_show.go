package handlers

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showEnvironment is an environment's page: live release, instances,
// events, the deploy in progress and the history.
func (h *Handler) showEnvironment(c echo.Context) error {
	ctx := c.Request().Context()
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	// The gate says what the deploy form offers, and why not.
	gate, err := h.delivery.Gate(ctx, u, env, nil)
	if err != nil {
		return err
	}
	p := pages.EnvironmentPage{Now: h.now(), CSRF: csrfToken(c), Project: env.Project.Slug, ProjectName: env.Project.Name,
		Name: env.Name, URL: env.URL(), Target: env.Target, AutoDeployBranch: env.AutoDeployBranch, Protected: env.Protected,
		Paused: env.AutoDeployPaused, PausedReason: env.AutoDeployPausedReason, ConfigVersion: env.ConfigVersion,
		CanDeploy: delivery.MayDeploy(u, env) == nil, Frozen: gate.Frozen, CanManage: auth.Can(roleOf(u), auth.ManageEnvironments)}

	rels, err := h.store.Releases(ctx, env.ID, 50)
	if err != nil {
		return err
	}
	prev, err := h.store.PreviousGoodRelease(ctx, env.ID)
	if err != nil && !errorsIsNotFound(err) {
		return err
	}
	var live *models.Release
	for i := range rels {
		r := &rels[i]
		v := releaseView(r, env.Project.Slug, env.Name)
		if r.Status == models.ReleaseLive && live == nil {
			live = r
		}
		p.Releases = append(p.Releases, v)
	}
	for i := range p.Releases {
		v := &p.Releases[i]
		r := &rels[i]
		v.Candidate = live != nil && delivery.RollbackRefusal(r, live) == ""
	}
	if live != nil {
		v := releaseView(live, env.Project.Slug, env.Name)
		p.Live = &v
	}
	if live != nil && auth.Can(roleOf(u), auth.Promote) {
		if p.Promote, err = h.promoteView(ctx, env); err != nil {
			return err
		}
	}
	if live != nil && auth.Can(roleOf(u), auth.RunLoadTest) {
		p.LoadTestHref = "/loadtests/plans/new?environment=" + idStr(env.ID)
	}
	if prev != nil && live != nil {
		v := releaseView(prev, env.Project.Slug, env.Name)
		p.PreviousGood = &v
	}
	active, err := h.store.ActiveReleases(ctx, []int64{env.ID})
	if err != nil {
		return err
	}
	if a := active[env.ID]; a != nil {
		v := releaseView(a, env.Project.Slug, env.Name)
		p.Active = &v
		a.Environment = *env
		l, err := h.releaseLogView(c, a)
		if err != nil {
			return err
		}
		p.ActiveLog = &l
		if p.ActiveWaitingFor, err = h.store.ReleaseWaitingFor(ctx, a); err != nil {
			return err
		}
	}
	if live != nil && p.ActiveLog == nil && env.Target == models.TargetProcess && h.logs != nil {
		o := appOutput{env: env, live: live, instance: live.ID}
		if live.InstanceReleaseID != nil {
			o.instance = *live.InstanceReleaseID
		}
		t := h.appOutputTarget(o)
		v, err := h.logView(c, t, logState{Status: "running"})
		if err != nil {
			return err
		}
		v.Fit = true
		p.OutputLog = &v
	}
	latest, err := h.store.LatestReleases(ctx, []int64{env.ID})
	if err != nil {
		return err
	}
	if r := latest[env.ID]; failedAfterLive(r, live) {
		v := releaseView(r, env.Project.Slug, env.Name)
		p.Failed = &v
	}
	if p.State, err = h.deployState(ctx, env.ID); err != nil {
		return err
	}
	p.Instances = h.instancesCard(c, env)
	if p.CanDeploy {
		p.DeployRefusal, p.DeployNeedsReason = gate.Refusal, gate.FreezeOverridable
		bs, err := h.store.DeployableBuilds(ctx, env.ProjectID, 20)
		if err != nil {
			return err
		}
		for _, b := range bs {
			msg, _, _ := strings.Cut(b.CommitMessage, "\n")
			p.Builds = append(p.Builds, pages.BuildChoice{ID: b.ID, Number: b.Number, Ref: b.Ref, Commit: models.ShortSHA(b.CommitSHA),
				Message: msg, SHA: (*b.ArtifactSHA256)[:min(12, len(*b.ArtifactSHA256))]})
		}
	}
	evs, err := h.store.ReleaseEvents(ctx, env.ID, 20)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		p.Events = append(p.Events, pages.EventView{Kind: ev.Kind, Message: ev.Message, ReleaseID: ev.ReleaseID, At: ev.CreatedAt, Output: ev.Output})
	}
	return h.render(c, env.Project.Name+" / "+env.Name, "environments", pages.Environment(p))
}

// instancesCard is the environment page's instances card.
func (h *Handler) instancesCard(c echo.Context, env *models.Environment) pages.InstancesPanel {
	p := pages.InstancesPanel{Now: h.now(), Href: envPath(env) + "/instances", CSRF: csrfToken(c),
		Process: env.Target == models.TargetProcess, Setting: env.Instances, Max: models.MaxInstances}
	if auth.Can(roleOf(currentUser(c)), auth.ManageEnvironments) {
		p.ScaleHref = envPath(env) + "/scale"
	}
	if h.engine != nil {
		p.EngineKnown = true
		st := h.engine.Status(env.EngineKey())
		p.Desired = st.Desired
		p.Balance = string(st.Balance)
		p.Instances = instanceViews(st)
	}
	if env.Instances > 0 {
		// The saved setting is what is wanted; the engine's own count
		// catches up when the scale job has run.
		p.Desired = env.Instances
	}
	return p
}

// instanceViews maps the engine's status of an environment: the live
// pool by slot, then the warm instances, then the others.
func instanceViews(st deploy.EnvStatus) []pages.InstanceView {
	var out []pages.InstanceView
	add := func(role string, s deploy.InstanceStatus) {
		v := pages.InstanceView{Role: role, ReleaseID: s.ReleaseID, Slot: s.Slot, State: string(s.State), Health: string(s.Health),
			Routable: s.Routable, PID: s.PID, Port: s.Port, Restarts: s.Restarts, RPS: s.RPS, Requests: s.Requests, Errors: s.Errors,
			InFlight: s.InFlight, StartedAt: s.StartedAt, WarmUntil: s.WarmUntil}
		if e := s.LastExit; e != nil {
			if e.Signal != "" {
				v.LastExit = "killed by " + e.Signal
			} else {
				v.LastExit = fmt.Sprintf("exit status %d", e.Code)
			}
		}
		out = append(out, v)
	}
	for _, s := range st.Pool {
		add("live", s)
	}
	for _, s := range st.Warm {
		add("warm", s)
	}
	for _, s := range st.Other {
		add("other", s)
	}
	return out
}
