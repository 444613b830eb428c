package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/models"
)

// RecoverDeploys fails the deploys a stopped portal left running and frees
// their environments. Call it at startup before the workers start, in the
// process that runs the environments.
func (j *Jobs) RecoverDeploys(ctx context.Context) error {
	n, err := j.deps.Store.InterruptDeploys(ctx, time.Now().UTC())
	if err != nil {
		return err
	}
	if n > 0 {
		j.log.Warn("deploys interrupted by the last shutdown marked failed", slog.Int64("count", n))
	}
	return nil
}

// RestoreEnvironments brings every process environment's live release back
// up after a restart: its edge on the saved address, a new instance of the
// release, the switch. Environments are restored concurrently; each
// failure is logged and recorded as a release event, and the others go on.
// It returns when every environment was tried or ctx ended.
func (j *Jobs) RestoreEnvironments(ctx context.Context) error {
	if j.deps.Deploy == nil {
		return nil
	}
	rels, err := j.deps.Store.LiveProcessReleases(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range rels {
		rel := &rels[i]
		wg.Go(func() {
			if err := j.restore(ctx, rel); err != nil {
				j.log.Error("restore environment", slog.String("project", rel.Environment.Project.Slug),
					slog.String("env", rel.Environment.Name), slog.Int64("release", rel.ID), slog.Any("err", err))
				j.recordEvent(context.WithoutCancel(ctx), &models.ReleaseEvent{EnvironmentID: rel.EnvironmentID, ReleaseID: rel.ID,
					Kind: "restore_failed", Message: "could not start the live release again after a restart: " + err.Error()})
			}
		})
	}
	wg.Wait()
	// Positions no live release took up are of releases gone meanwhile.
	j.outputs.restored()
	return nil
}

func (j *Jobs) restore(ctx context.Context, rel *models.Release) error {
	d, env := j.deps, &rel.Environment
	if err := ensureEdge(ctx, d, env); err != nil {
		return err
	}
	// An edge of its own (`slipway edge`) kept serving while the portal
	// was down: the release is live already (on its own instances, or on
	// those of the release a rollback switched back to), nothing starts
	// again.
	if st := d.Deploy.Status(env.EngineKey()); st.LiveReleaseID == instanceRelease(rel) && st.Live != nil && st.Live.State != deploy.StateStopped {
		j.log.Info("environment still served by the edge", slog.String("project", env.Project.Slug), slog.String("env", env.Name),
			slog.Int64("release", rel.ID), slog.Int("pid", st.Live.PID))
		j.attachOutput(ctx, rel)
		return nil
	}
	app, err := appConfig(ctx, d.Store, rel)
	if err != nil {
		return err
	}
	dir, err := unpack(ctx, d, rel.ArtifactSHA256)
	if err != nil {
		return err
	}
	vars, secrets, err := releaseVars(d, rel)
	if err != nil {
		return err
	}
	for k, v := range app.Env {
		if _, set := vars[k]; !set {
			vars[k] = v
		}
	}
	n := instancesFor(env, app)
	sctx, cancel := context.WithTimeout(ctx, app.HealthTimeout)
	defer cancel()
	out := openAppOutput(ctx, d.Logs, rel.ID, j.log, j.outputs)
	_, err = d.Deploy.Rollout(sctx, deploy.RolloutSpec{
		InstanceSpec: deploy.InstanceSpec{Env: env.EngineKey(), ReleaseID: rel.ID, Dir: dir,
			Command: app.Run, Vars: vars, HealthPath: app.Health, Lines: maskLines(secrets)},
		Instances: n,
		Batch:     app.RolloutBatch,
		Balance:   deploy.Balance(app.Balance),
		Output:    out.line,
		Stopped:   func() { out.close(string(deploy.StateStopped)) },
	}, nil)
	if err != nil {
		return err
	}
	if err := d.Store.SetReleaseInstance(ctx, rel.ID, rel.ID); err != nil {
		return err
	}
	j.log.Info("environment restored", slog.String("project", env.Project.Slug), slog.String("env", env.Name),
		slog.Int64("release", rel.ID), slog.String("url", env.URL()))
	j.recordEvent(ctx, &models.ReleaseEvent{EnvironmentID: env.ID, ReleaseID: rel.ID, Kind: models.EventRestored,
		Message: fmt.Sprintf("started again after Slipway restarted (%d instance(s))", n)})
	return nil
}

// outputAttacher is an engine whose instances outlive the portal (a
// `slipway edge`): it hands back a running instance, so that a restarted
// portal stores its output again, from the line after after.
type outputAttacher interface {
	Attach(env string, releaseID int64, lines deploy.LineSplitter, log func(string), after int64) *deploy.Instance
}

// attachOutput resumes storing the output of rel's live instance, masked
// with the release's secrets, in its output stream (which continues where
// the previous portal left it): first the lines the edge kept while no
// portal stored them, after the last one stored, then live ones.
func (j *Jobs) attachOutput(ctx context.Context, rel *models.Release) {
	a, ok := j.deps.Deploy.(outputAttacher)
	if !ok {
		return
	}
	_, secrets, err := releaseVars(j.deps, rel)
	if err != nil {
		j.log.Warn("app output not attached", slog.Int64("release", rel.ID), slog.Any("err", err))
		return
	}
	key, inRel := rel.Environment.EngineKey(), instanceRelease(rel)
	out := openAppOutput(ctx, j.deps.Logs, inRel, j.log, j.outputs)
	inst := a.Attach(key, inRel, maskLines(secrets), out.line, j.outputs.position(key, inRel))
	if inst == nil {
		// Gone meanwhile: its stream ends as it would have.
		out.close(string(deploy.StateStopped))
		return
	}
	out.closeWhenDone(inst)
}

// instanceRelease is the release whose instances serve rel: its own, or
// for a rollback to warm instances, those of the release it restored.
func instanceRelease(rel *models.Release) int64 {
	if rel.InstanceReleaseID != nil {
		return *rel.InstanceReleaseID
	}
	return rel.ID
}

func (j *Jobs) recordEvent(ctx context.Context, ev *models.ReleaseEvent) {
	if err := j.deps.Store.CreateReleaseEvent(ctx, ev); err != nil {
		j.log.Warn("record release event", slog.Any("err", err))
	}
}

// DeployEvents records the deploy engine's instance events (crashes,
// restarts, stops) as release events. Record never blocks the engine;
// events are written in order by one goroutine until Close.
type DeployEvents struct {
	store *models.Store
	log   *slog.Logger

	mu     sync.Mutex
	queue  []deploy.Event
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

// NewDeployEvents starts a recorder; pass its Record as the deploy
// Manager's Options.OnEvent and Close it after the Manager.
func NewDeployEvents(store *models.Store, log *slog.Logger) *DeployEvents {
	if log == nil {
		log = slog.Default()
	}
	r := &DeployEvents{store: store, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.loop()
	return r
}

// Record queues an event.
func (r *DeployEvents) Record(ev deploy.Event) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.queue = append(r.queue, ev)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close writes what is queued and stops the recorder.
func (r *DeployEvents) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.wake)
	}
	r.mu.Unlock()
	<-r.done
}

func (r *DeployEvents) loop() {
	defer close(r.done)
	for range r.wake {
		r.drain()
	}
	r.drain()
}

func (r *DeployEvents) drain() {
	for {
		r.mu.Lock()
		evs := r.queue
		r.queue = nil
		r.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		for _, ev := range evs {
			r.write(ev)
		}
	}
}

func (r *DeployEvents) write(ev deploy.Event) {
	envID, ok := models.EnvironmentIDFromKey(ev.Env)
	if !ok {
		return
	}
	row := &models.ReleaseEvent{EnvironmentID: envID, ReleaseID: ev.ReleaseID, Kind: string(ev.Kind), PID: ev.PID,
		Restarts: ev.Restarts, Message: ev.Reason, CreatedAt: ev.Time.UTC()}
	switch ev.Kind {
	case deploy.EventCrashed:
		row.Message = fmt.Sprintf("%s; restarting in %s", ev.Reason, ev.Delay.Round(time.Millisecond))
	case deploy.EventRestarted:
		row.Message = fmt.Sprintf("restarted (restart %d), healthy again", ev.Restarts)
	case deploy.EventStopped:
		row.Message = "stopped"
	}
	if ev.Exit != nil {
		code := ev.Exit.Code
		row.ExitCode = &code
		row.Output = strings.Join(ev.Exit.Lines, "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.CreateReleaseEvent(ctx, row); err != nil && !errors.Is(err, context.Canceled) {
		r.log.Warn("record deploy event", slog.String("env", ev.Env), slog.Int64("release", ev.ReleaseID), slog.Any("err", err))
	}
}
