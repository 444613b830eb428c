package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/pipeline"
	"github.com/slipway-ci/slipway/models"
)

// SecretBox seals and opens secrets at rest (internal/secretbox.Box).
type SecretBox interface {
	Seal(plaintext, additionalData []byte) []byte
	Open(sealed, additionalData []byte) ([]byte, error)
}

// ErrNoSecretBox means secrets are involved but no key was configured.
var ErrNoSecretBox = delivery.ErrNoSecretKey

// deploySnooze is how long a deploy waiting for its environment sleeps
// before it looks again.
const deploySnooze = 300 * time.Millisecond

// DeployArgs deploys one release.
type DeployArgs struct {
	ReleaseID int64 `json:"release_id"`
}

// Kind names the job for River.
func (DeployArgs) Kind() string { return "deploy" }

// InsertOpts puts deploys on their queue. A deploy that fails is recorded
// as failed and never retried by itself; the extra attempts cover only a
// worker lost before the release started.
func (DeployArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDeploys, MaxAttempts: 3}
}

// DeployRequest says what to deploy where, for EnqueueDeploy.
type DeployRequest = delivery.DeployRequest

// EnqueueDeploy creates a pending release and its deploy job in one
// transaction of store (which may already be a transaction). The release
// takes the environment's current variables and secrets, sealed, unless
// req.Source gives them.
func (j *Jobs) EnqueueDeploy(ctx context.Context, store *models.Store, req DeployRequest) (*models.Release, error) {
	env := req.Env
	r := &models.Release{EnvironmentID: env.ID, Status: models.ReleasePending, Reason: req.Reason, CreatedByID: req.By,
		RollbackOfID: req.RollbackOf, ArtifactSHA256: req.ArtifactSHA256, Note: req.Note}
	if req.Build != nil {
		r.BuildID = &req.Build.ID
		if req.Build.ArtifactSHA256 != nil {
			r.ArtifactSHA256 = *req.Build.ArtifactSHA256
		}
	}
	err := store.Tx(ctx, func(tx *models.Store) error {
		if src := req.Source; src != nil {
			r.ArtifactSHA256, r.BuildID, r.SourceReleaseID = src.ArtifactSHA256, src.BuildID, &src.ID
			r.ConfigVersion, r.ConfigSealed, r.ConfigSummary = src.ConfigVersion, src.ConfigSealed, src.ConfigSummary
		} else if err := j.takeConfig(ctx, tx, env.ID, r); err != nil {
			return err
		}
		if r.ArtifactSHA256 == "" {
			return fmt.Errorf("jobs: enqueue deploy: %w: nothing to deploy", models.ErrNotDeployable)
		}
		if err := tx.CreateRelease(ctx, r); err != nil {
			return err
		}
		res, err := j.InsertTx(ctx, tx, DeployArgs{ReleaseID: r.ID}, nil)
		if err != nil {
			return err
		}
		r.JobID = res.Job.ID
		return tx.SetReleaseJob(ctx, r.ID, res.Job.ID)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// snapshotConfig turns an environment's variables into a release's
// configuration: a summary without secret values, and the secrets as one
// sealed JSON object (nil when there are none).
func (j *Jobs) snapshotConfig(envID int64, vars []models.EnvironmentVariable) (string, []byte, error) {
	summary := []models.ConfigEntry{}
	secrets := map[string]string{}
	for _, v := range vars {
		if !v.Secret {
			summary = append(summary, models.ConfigEntry{Name: v.Name, Value: v.Value})
			continue
		}
		summary = append(summary, models.ConfigEntry{Name: v.Name, Secret: true})
		if j.deps.Secrets == nil {
			return "", nil, fmt.Errorf("jobs: snapshot config: secret %s: %w", v.Name, ErrNoSecretBox)
		}
		plain, err := j.deps.Secrets.Open(v.ValueSealed, models.SecretAD(envID, v.Name))
		if err != nil {
			return "", nil, fmt.Errorf("jobs: snapshot config: secret %s: %w", v.Name, err)
		}
		secrets[v.Name] = string(plain)
	}
	raw, err := json.Marshal(summary)
	if err != nil {
		return "", nil, fmt.Errorf("jobs: snapshot config: %w", err)
	}
	if len(secrets) == 0 {
		return string(raw), nil, nil
	}
	sec, err := json.Marshal(secrets)
	if err != nil {
		return "", nil, fmt.Errorf("jobs: snapshot config: %w", err)
	}
	return string(raw), j.deps.Secrets.Seal(sec, models.ReleaseSecretsAD(envID)), nil
}

// DeployWorker runs DeployArgs: one release into one environment, one
// deploy at a time per environment.
type DeployWorker struct {
	river.WorkerDefaults[DeployArgs]
	deps Deps
	j    *Jobs
}

// Timeout bounds one deploy: the longest health timeout plus unpacking
// and switching.
func (w *DeployWorker) Timeout(*river.Job[DeployArgs]) time.Duration {
	return pipeline.MaxHealthTimeout + 5*time.Minute
}

// Work deploys the release, or snoozes while another deploy of the same
// environment runs. Every outcome is recorded on the release; the job
// itself fails only when the database cannot be reached.
func (w *DeployWorker) Work(ctx context.Context, job *river.Job[DeployArgs]) error {
	store := w.deps.Store
	rel, err := store.Release(ctx, job.Args.ReleaseID)
	if errors.Is(err, models.ErrNotFound) {
		return nil // its environment was removed
	}
	if err != nil {
		return err
	}
	if rel.Status != models.ReleasePending {
		return nil // done already, or another attempt runs it
	}
	wait, err := store.AcquireDeployLock(ctx, rel.EnvironmentID, rel.ID)
	if err != nil {
		return err
	}
	if wait != 0 {
		return river.JobSnooze(deploySnooze)
	}
	if skipped, err := w.recheckAuto(ctx, rel); skipped || err != nil {
		return err
	}
	started, err := store.StartRelease(ctx, rel.ID, time.Now().UTC())
	if err != nil || !started {
		return err
	}
	d := &deployRun{w: w, rel: rel, env: &rel.Environment, log: w.deps.Logger.With(slog.Int64("release", rel.ID))}
	d.openLog(ctx)
	res, err := d.run(ctx)

	// The outcome is recorded even when the job's context ended.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	now := time.Now().UTC()
	if err != nil {
		d.line("deploy failed: " + err.Error())
		if ferr := store.FailRelease(fctx, rel.ID, now, err.Error(), res.output); ferr != nil {
			return ferr
		}
		d.closeLog(fctx, models.ReleaseFailed)
		return nil
	}
	pause := ""
	if rel.Reason == models.ReasonRollback && rel.RollbackOfID != nil {
		pause = fmt.Sprintf("Release #%d was rolled back by release #%d; auto-deploy waits until something newer is deployed or an admin resumes it.", *rel.RollbackOfID, rel.ID)
	}
	if err := store.FinishReleaseLive(fctx, rel.ID, res.instance, now, pause); err != nil {
		return err
	}
	d.line(fmt.Sprintf("release #%d is live", rel.ID))
	d.closeLog(fctx, models.ReleaseLive)
	return nil
}

// deployRun is one deploy in progress.
type deployRun struct {
	w    *DeployWorker
	rel  *models.Release
	env  *models.Environment
	log  *slog.Logger
	logw *logs.Writer
}

// deployResult is what a deploy leaves behind.
type deployResult struct {
	instance int64  // the engine instance that serves the release
	output   string // the failed instance's last lines
}

func (d *deployRun) openLog(ctx context.Context) {
	if d.w.deps.Logs == nil {
		return
	}
	lw, err := d.w.deps.Logs.NewWriter(ctx, d.rel.LogStream())
	if err != nil {
		d.log.Warn("deploy log unavailable", slog.Any("err", err))
		return
	}
	d.logw = lw
}

func (d *deployRun) line(s string) {
	if d.logw != nil {
		d.logw.Line(s)
	}
}

func (d *deployRun) closeLog(ctx context.Context, status string) {
	if d.logw != nil {
		if err := d.logw.Close(ctx, status); err != nil {
			d.log.Warn("close deploy log", slog.Any("err", err))
		}
	}
}

func (d *deployRun) run(ctx context.Context) (deployResult, error) {
	rel, env := d.rel, d.env
	what := "artifact " + rel.ShortSHA()
	if rel.Build != nil {
		what = fmt.Sprintf("build #%d (%s, %s)", rel.Build.Number, rel.Build.Ref, models.ShortSHA(rel.Build.CommitSHA))
	}
	d.line(fmt.Sprintf("deploying release #%d of %s to %s (target %s, config v%d, reason %s)", rel.ID, what, env.Name, env.Target, rel.ConfigVersion, rel.Reason))
	vars, secrets, err := d.w.releaseVars(rel)
	if err != nil {
		return deployResult{}, err
	}
	switch env.Target {
	case models.TargetScript:
		return d.runScript(ctx, vars, secrets)
	case models.TargetProcess, "":
		return d.runProcess(ctx, vars, secrets)
	}
	return deployResult{}, fmt.Errorf("unknown deploy target %q", env.Target)
}

// runProcess starts the release behind the environment's edge: the warm
// instance of the source release for a rollback when there is one, else
// a new instance that must pass its health check before the switch.
func (d *deployRun) runProcess(ctx context.Context, vars map[string]string, secrets []string) (deployResult, error) {
	mgr, store, rel, env := d.w.deps.Deploy, d.w.deps.Store, d.rel, d.env
	key := env.EngineKey()
	if err := d.w.ensureEdge(ctx, env); err != nil {
		return deployResult{}, err
	}
	d.line("edge: " + env.URL())

	if rel.SourceReleaseID != nil {
		src, err := store.Release(ctx, *rel.SourceReleaseID)
		if err != nil {
			return deployResult{}, err
		}
		if src.InstanceReleaseID != nil {
			n, err := mgr.SwitchWarm(key, *src.InstanceReleaseID)
			switch {
			case err == nil:
				d.line(fmt.Sprintf("switched the edge back to the %d warm instance(s) of release #%d, all at once", n, src.ID))
				return deployResult{instance: *src.InstanceReleaseID}, nil
			case !errors.Is(err, deploy.ErrNotWarm):
				d.line("the warm instances could not take traffic (" + err.Error() + "); starting new ones")
			}
		}
		d.line(fmt.Sprintf("no warm instance of release #%d: starting it again", src.ID))
	}

	app, err := d.w.appConfig(ctx, rel)
	if err != nil {
		return deployResult{}, err
	}
	dir, err := d.w.unpack(ctx, rel.ArtifactSHA256)
	if err != nil {
		return deployResult{}, err
	}
	d.line("artifact unpacked in " + dir)
	for k, v := range app.Env {
		if _, set := vars[k]; !set {
			vars[k] = v
		}
	}
	d.line(fmt.Sprintf("starting %q with PORT set and HOST=BIND=127.0.0.1; health check GET %s within %s", app.Run, app.Health, app.HealthTimeout))
	if mgr.WorkDir(key) != "" {
		sandboxed, notice, err := mgr.Sandbox()
		switch {
		case err != nil:
			return deployResult{}, err
		case sandboxed:
			d.line("sandbox: bubblewrap; the app runs in " + deploy.AppDir + ", the environment's own work dir, with the release's files read-only in it")
		default:
			d.line("WARNING: " + notice)
		}
	}
	n := instancesFor(env, app)
	out := openAppOutput(ctx, d.w.deps.Logs, rel.ID, d.log, d.w.j.outputs)
	// While the deploy runs, the app's output is also part of its log.
	var deploying atomic.Bool
	deploying.Store(true)
	spec := deploy.RolloutSpec{
		InstanceSpec: deploy.InstanceSpec{Env: key, ReleaseID: rel.ID, Dir: dir, Command: app.Run, Vars: vars,
			HealthPath: app.Health, Lines: maskLines(secrets)},
		Instances: n,
		Batch:     app.RolloutBatch,
		Balance:   deploy.Balance(app.Balance),
		Output: func(l string) {
			out.line(l)
			if deploying.Load() {
				d.line("[app] " + l)
			}
		},
		Stopped: func() { out.close(string(deploy.StateStopped)) },
	}
	// Each start is bounded by the health timeout; a rolling deploy starts
	// batch after batch, and drains between them.
	sctx, cancel := context.WithTimeout(ctx, time.Duration(n)*(app.HealthTimeout+deploy.DefaultDrainTimeout))
	defer cancel()
	if n > 1 {
		how := "each request to the instance with the fewest in flight (least-outstanding)"
		if app.Balance == pipeline.BalanceRoundRobin {
			how = "requests to the instances in turn (round-robin)"
		}
		d.line(fmt.Sprintf("%d instances; the edge sends %s", n, how))
	} else {
		d.line("1 instance")
	}
	res, err := mgr.Rollout(sctx, spec, d.line)
	deploying.Store(false)
	if err != nil {
		var se *deploy.StartError
		if errors.As(err, &se) {
			return deployResult{output: strings.Join(se.Output, "\n")}, startFailure(se, app)
		}
		return deployResult{}, err
	}
	for _, s := range mgr.Status(key).Pool {
		if s.ReleaseID == rel.ID && deploy.ListensOnAllInterfaces(s.Port) {
			d.line(listenAllWarning(s.Port))
			break
		}
	}
	if res.Previous != 0 {
		d.line(fmt.Sprintf("release #%d drained and stays warm for rollback", res.Previous))
	}
	return deployResult{instance: rel.ID}, nil
}

// instancesFor is how many instances env runs of a release whose
// .slipway.yml says app: the environment's setting, else the file's, else 1.
func instancesFor(env *models.Environment, app pipeline.App) int {
	switch {
	case env.Instances > 0:
		return env.Instances
	case app.Instances > 0:
		return app.Instances
	}
	return 1
}

// listenAllWarning is the release log's warning for an app that listens on
// every interface instead of HOST.
func listenAllWarning(port int) string {
	return fmt.Sprintf("WARNING: the app listens on port %d on every interface (0.0.0.0 or ::), so it can be reached without the edge; "+
		"listen on $HOST (127.0.0.1) instead", port)
}

// startFailure words a failed start for the release page.
func startFailure(se *deploy.StartError, app pipeline.App) error {
	switch {
	case errors.Is(se, deploy.ErrExited):
		msg := "the app exited before it became healthy"
		if se.Exit != nil {
			if se.Exit.Signal != "" {
				msg += " (killed by " + se.Exit.Signal + ")"
			} else {
				msg += fmt.Sprintf(" (exit status %d)", se.Exit.Code)
			}
		}
		return errors.New(msg + "; its output is below")
	case errors.Is(se, deploy.ErrUnhealthy), errors.Is(se, context.DeadlineExceeded):
		msg := fmt.Sprintf("the app did not pass its health check GET %s within %s", app.Health, app.HealthTimeout)
		if se.Detail != "" {
			msg += ": " + se.Detail
		}
		return errors.New(msg + "; the previous release keeps serving")
	}
	return se
}

// runScript runs the environment's own deploy command.
func (d *deployRun) runScript(ctx context.Context, vars map[string]string, secrets []string) (deployResult, error) {
	dir, err := d.w.unpack(ctx, d.rel.ArtifactSHA256)
	if err != nil {
		return deployResult{}, err
	}
	d.line("artifact unpacked in " + dir)
	d.line("running the deploy script")
	err = deploy.ScriptDeploy(ctx, deploy.ScriptSpec{Command: d.env.ScriptCommand, Dir: dir, Env: vars, Artifact: dir,
		Environment: d.env.Name, Release: strconv.FormatInt(d.rel.ID, 10), Lines: maskLines(secrets)}, d.line)
	if err != nil {
		return deployResult{}, err
	}
	return deployResult{instance: d.rel.ID}, nil
}

// ensureEdge makes the environment's edge listen on its saved address (a
// free port the first time, then saved).
func (w *DeployWorker) ensureEdge(ctx context.Context, env *models.Environment) error {
	return ensureEdge(ctx, w.deps, env)
}

func ensureEdge(ctx context.Context, deps Deps, env *models.Environment) error {
	addr, err := deps.Deploy.EnsureEdge(env.EngineKey(), env.EdgeAddr)
	if errors.Is(err, deploy.ErrAddrInUse) {
		return fmt.Errorf("the edge address %s of %s is in use by another program: free it, or change the environment's edge address in its settings", env.EdgeAddr, env.Name)
	}
	if err != nil {
		return err
	}
	if addr != env.EdgeAddr {
		if err := deps.Store.SetEnvironmentEdgeAddr(ctx, env.ID, addr); err != nil {
			return err
		}
		env.EdgeAddr = addr
	}
	return nil
}

// appConfig reads how to run the release's artifact from the pipeline
// file of the build that made it.
func (w *DeployWorker) appConfig(ctx context.Context, rel *models.Release) (pipeline.App, error) {
	return appConfig(ctx, w.deps.Store, rel)
}

func appConfig(ctx context.Context, store *models.Store, rel *models.Release) (pipeline.App, error) {
	b := rel.Build
	if b == nil {
		var err error
		if b, err = store.BuildForArtifact(ctx, rel.Environment.ProjectID, rel.ArtifactSHA256); err != nil {
			if errors.Is(err, models.ErrNotFound) {
				return pipeline.App{}, fmt.Errorf("no build of this project made artifact %s, so nothing says how to run it", rel.ShortSHA())
			}
			return pipeline.App{}, err
		}
	}
	cfg, err := pipeline.Parse(pipeline.DefaultFile, []byte(b.PipelineYAML))
	if err != nil {
		return pipeline.App{}, fmt.Errorf("the .slipway.yml of build #%d: %w", b.Number, err)
	}
	if strings.TrimSpace(cfg.App.Run) == "" {
		return pipeline.App{}, fmt.Errorf("the .slipway.yml of build #%d has no app.run: add an app section saying how to start the app, or use the script target", b.Number)
	}
	return cfg.App, nil
}

// unpack unpacks the artifact once per digest under the releases directory.
func (w *DeployWorker) unpack(ctx context.Context, sha string) (string, error) {
	return unpack(ctx, w.deps, sha)
}

func unpack(ctx context.Context, deps Deps, sha string) (string, error) {
	if deps.Artifacts == nil {
		return "", errors.New("no artifact store configured")
	}
	dir, err := deps.Deploy.ReleaseDir(sha)
	if err != nil {
		return "", err
	}
	out, err := deps.Artifacts.UnpackOnce(ctx, sha, filepath.Dir(dir))
	if err != nil {
		return "", fmt.Errorf("unpack the artifact: %w", err)
	}
	return out, nil
}

// releaseVars is the release's configuration as the app's environment:
// its variables, its secrets, and SLIPWAY_ENVIRONMENT / SLIPWAY_RELEASE.
// secrets lists the secret values, for masking output.
func (w *DeployWorker) releaseVars(rel *models.Release) (vars map[string]string, secrets []string, err error) {
	return releaseVars(w.deps, rel)
}

func releaseVars(deps Deps, rel *models.Release) (map[string]string, []string, error) {
	vars := map[string]string{}
	var summary []models.ConfigEntry
	if err := json.Unmarshal([]byte(rel.ConfigSummary), &summary); err != nil {
		return nil, nil, fmt.Errorf("release configuration: %w", err)
	}
	for _, e := range summary {
		if !e.Secret {
			vars[e.Name] = e.Value
		}
	}
	var values []string
	if len(rel.ConfigSealed) > 0 {
		if deps.Secrets == nil {
			return nil, nil, ErrNoSecretBox
		}
		plain, err := deps.Secrets.Open(rel.ConfigSealed, models.ReleaseSecretsAD(rel.EnvironmentID))
		if err != nil {
			return nil, nil, fmt.Errorf("open the release's secrets: %w", err)
		}
		var secrets map[string]string
		if err := json.Unmarshal(plain, &secrets); err != nil {
			return nil, nil, fmt.Errorf("open the release's secrets: %w", err)
		}
		for k, v := range secrets {
			vars[k] = v
			values = append(values, v)
		}
	}
	vars["SLIPWAY_ENVIRONMENT"] = rel.Environment.Name
	vars["SLIPWAY_RELEASE"] = strconv.FormatInt(rel.ID, 10)
	return vars, values, nil
}
