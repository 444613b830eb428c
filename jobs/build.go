package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/pipeline"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

// Names of the synthetic steps around the pipeline's own.
const (
	StepCheckout = "checkout"
	StepConfig   = "config"
	StepArtifact = "artifact"
)

// cancelPollEvery is how often a running build looks for a cancel request
// in the database, in case River's cancel notification does not arrive
// (SQLite across processes, a PostgreSQL listener reconnecting).
const cancelPollEvery = 250 * time.Millisecond

// errCanceled is the cause of a build context ended by a user's cancel.
var errCanceled = errors.New("canceled by a user")

// BuildWorker runs BuildArgs: checkout, config, the pipeline's steps and
// the artifact, with every line in the build's log stream.
type BuildWorker struct {
	river.WorkerDefaults[BuildArgs]
	j *Jobs
}

// Work runs one build to its end and records the outcome on the build; it
// returns an error only when it could not even start (the job is then
// discarded, never retried).
func (w *BuildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	j := w.j
	d := j.deps
	if d.Logs == nil || d.Artifacts == nil || d.DataDir == "" {
		return errors.New("jobs: build: the worker has no log service, artifact store or data dir")
	}
	// Database writes must land even after a cancel ended ctx.
	dbctx := context.WithoutCancel(ctx)
	ok, err := d.Store.ClaimBuild(dbctx, job.Args.BuildID, j.workerID, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("jobs: build %d: %w", job.Args.BuildID, err)
	}
	if !ok {
		return nil // canceled while queued, or finished by recovery
	}
	b, err := d.Store.Build(dbctx, job.Args.BuildID)
	if err != nil {
		return fmt.Errorf("jobs: build %d: %w", job.Args.BuildID, err)
	}
	r := &buildRun{j: j, b: b, store: d.Store, dbctx: dbctx, log: j.log.With(slog.Int64("build_id", b.ID))}
	r.run(ctx)
	return nil
}

// buildRun is the state of one build in its worker.
type buildRun struct {
	j     *Jobs
	b     *models.Build
	store *models.Store
	dbctx context.Context
	log   *slog.Logger
	w     *logs.Writer
	steps []*models.BuildStep
	// base holds the workspace and the steps' HOME; removed at the end.
	base string
	ws   string

	pipelineYAML string
	artifactSHA  *string
	// sourceDate is the commit's date, SOURCE_DATE_EPOCH of the steps.
	sourceDate time.Time
	cache      *buildCache
	// trash holds replaced path caches, removed after the build ends.
	trash []string
}

func (r *buildRun) run(ctx context.Context) {
	started := time.Now()
	w, err := r.j.deps.Logs.NewWriter(r.dbctx, r.b.LogStream())
	if err != nil {
		r.log.Error("open build log", slog.Any("err", err))
		r.finish(models.BuildFailed, "could not open the build log: "+err.Error(), started)
		return
	}
	r.w = w
	defer r.cleanup()

	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopWatch := r.watch(bctx, cancel)
	status, reason := r.execute(bctx)
	stopWatch()
	r.finish(status, reason, started)
}

// watch polls for a cancel request and keeps the heartbeat fresh until
// the returned function is called (which waits for it to stop).
func (r *buildRun) watch(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(cancelPollEvery)
		defer t.Stop()
		beat := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if ctx.Err() == nil {
				if req, err := r.store.BuildCancelRequested(r.dbctx, r.b.ID); err == nil && req {
					cancel(errCanceled)
				}
			}
			if time.Since(beat) >= heartbeatEvery {
				beat = time.Now()
				if err := r.store.TouchBuild(r.dbctx, r.b.ID, r.j.workerID, beat.UTC()); err != nil {
					r.log.Warn("build heartbeat", slog.Any("err", err))
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// execute runs the build's phases and returns its final status and reason.
func (r *buildRun) execute(ctx context.Context) (status, reason string) {
	checkout, config := r.addStep(StepCheckout), r.addStep(StepConfig)
	if err := r.createSteps(checkout, config); err != nil {
		return models.BuildFailed, err.Error()
	}

	r.startStep(checkout)
	source := gitrepo.RedactURL(r.b.Project.RepoURL)
	if r.b.Project.Hosted {
		source = "the repository hosted by this portal"
	}
	r.sys(fmt.Sprintf("commit %s (%s %s) of %s", r.b.CommitSHA, r.b.RefType, r.b.Ref, source))
	if err := r.checkout(ctx); err != nil {
		if ctx.Err() != nil {
			return r.stopped(ctx, checkout)
		}
		msg := checkoutMessage(err)
		r.endStep(checkout, runner.StatusFailed, nil, msg)
		return models.BuildFailed, "checkout: " + msg
	}
	r.endStep(checkout, runner.StatusSucceeded, nil, "")

	r.startStep(config)
	cfg, raw, err := r.readConfig()
	if err != nil {
		r.endStep(config, runner.StatusFailed, nil, err.Error())
		return models.BuildFailed, err.Error()
	}
	r.pipelineYAML = raw
	r.sys(fmt.Sprintf("%s: %d %s, build timeout %s", pipeline.DefaultFile, len(cfg.Build), plural(len(cfg.Build), "step"), cfg.Timeout))
	r.endStep(config, runner.StatusSucceeded, nil, "")

	rows := make([]*models.BuildStep, len(cfg.Build))
	spec := runner.Spec{
		Workspace:    r.ws,
		Env:          r.buildEnv(),
		BuildTimeout: cfg.Timeout,
		Sandbox:      r.j.deps.Sandbox,
		MaxProcs:     r.j.deps.MaxBuildProcs,
	}
	if r.cache = r.openCache(ctx); r.cache != nil {
		spec.CacheDir = r.cache.home
	}
	pc := r.restorePathCache(ctx, cfg.Cache)
	for i, s := range cfg.Build {
		rows[i] = r.addStep(s.Name)
		spec.Steps = append(spec.Steps, runner.Step{Name: s.Name, Run: s.Run, Env: s.Env, Timeout: s.Timeout})
	}
	art := r.addStep(StepArtifact)
	if err := r.createSteps(append(rows, art)...); err != nil {
		return models.BuildFailed, err.Error()
	}
	res, err := runner.Run(ctx, spec, &stepSink{r: r, rows: rows})
	if err != nil {
		// Nothing ran: the sandbox is required but missing, or the spec is
		// unusable. The first step carries the message.
		msg := strings.TrimPrefix(err.Error(), "runner: ")
		r.startStep(rows[0])
		r.endStep(rows[0], runner.StatusFailed, nil, msg)
		return models.BuildFailed, msg
	}
	switch res.Status {
	case runner.StatusSucceeded:
	case runner.StatusCanceled:
		return r.stopped(ctx, nil)
	default:
		for i, sr := range res.Steps {
			if sr.Status != runner.StatusSucceeded {
				return models.BuildFailed, fmt.Sprintf("step %s: %s", rows[i].Name, sr.Err)
			}
		}
		return models.BuildFailed, "a step failed"
	}

	r.startStep(art)
	if len(cfg.Artifact.Paths) == 0 {
		r.sys("no artifact declared (artifact.paths in " + pipeline.DefaultFile + "): nothing to keep")
		r.endStep(art, runner.StatusSkipped, nil, "")
		r.savePathCache(ctx, pc)
		return models.BuildSucceeded, ""
	}
	info, err := r.packArtifact(ctx, cfg.Artifact.Paths)
	if err != nil {
		if ctx.Err() != nil {
			return r.stopped(ctx, art)
		}
		r.endStep(art, runner.StatusFailed, nil, err.Error())
		return models.BuildFailed, "artifact: " + err.Error()
	}
	r.artifactSHA = &info.SHA256
	r.sys(fmt.Sprintf("artifact sha256:%s (%s)", info.SHA256, byteSize(info.Size)))
	r.endStep(art, runner.StatusSucceeded, nil, "")
	r.savePathCache(ctx, pc)
	return models.BuildSucceeded, ""
}

// stopped ends a build whose context ended: a user's cancel, or this
// process shutting down. step, if not nil, is the step that was running.
func (r *buildRun) stopped(ctx context.Context, step *models.BuildStep) (status, reason string) {
	cause := context.Cause(ctx)
	status, reason = models.BuildInterrupted, reasonShutdown
	if errors.Is(cause, errCanceled) || errors.Is(cause, river.ErrJobCancelledRemotely) {
		status, reason = models.BuildCanceled, r.canceledReason()
	}
	if step != nil {
		r.endStep(step, runner.StatusCanceled, nil, reason)
	}
	return status, reason
}

func (r *buildRun) canceledReason() string {
	b, err := r.store.Build(r.dbctx, r.b.ID)
	if err == nil && b.CanceledByID != nil {
		if u, err := r.store.User(r.dbctx, *b.CanceledByID); err == nil {
			return "canceled by " + u.Username
		}
	}
	return "canceled"
}

// checkout makes sure the mirror has the commit and exports it into a
// fresh workspace outside the data dir.
func (r *buildRun) checkout(ctx context.Context) error {
	dir := r.j.RepoDir(&r.b.Project)
	root := r.j.deps.WorkspaceDir
	if root == "" {
		root = os.TempDir()
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("create workspace dir: %w", err)
	}
	base, err := os.MkdirTemp(root, fmt.Sprintf("slipway-build-%d-", r.b.ID))
	if err != nil {
		return fmt.Errorf("create workspace: %w", err)
	}
	r.base, r.ws = base, filepath.Join(base, "workspace")
	// Who owns this workspace, so that a start after a crash can tell a
	// dead worker's workspace from a live one's (removeStaleWorkspaces).
	if err := os.WriteFile(filepath.Join(base, workspaceOwnerFile), []byte(r.j.workerID), 0o600); err != nil {
		return fmt.Errorf("create workspace: %w", err)
	}
	// Usually the mirror CreateBuild updated already has the commit; on
	// another machine, or after a force-push pruned it, fetch first.
	err = gitrepo.Export(ctx, dir, r.b.CommitSHA, r.ws)
	if errors.Is(err, gitrepo.ErrUnknownRef) || errors.Is(err, gitrepo.ErrNotMirror) || !isDir(dir) {
		r.sys("fetching " + gitrepo.RedactURL(r.b.Project.RepoURL))
		if err := r.j.updateMirror(ctx, &r.b.Project); err != nil {
			return err
		}
		err = gitrepo.Export(ctx, dir, r.b.CommitSHA, r.ws)
		if errors.Is(err, gitrepo.ErrUnknownRef) {
			return fmt.Errorf("commit %s is no longer in the repository (force-pushed away?)", r.b.CommitSHA)
		}
	}
	if err != nil {
		return err
	}
	r.sys("workspace " + r.ws)
	if c, err := gitrepo.CommitInfo(ctx, dir, r.b.CommitSHA); err == nil {
		r.sourceDate = c.Time
	} else {
		r.log.Warn("commit date for SOURCE_DATE_EPOCH", slog.Any("err", err))
	}
	return nil
}

// privateDir makes dir (its parent must exist) and checks that it is a
// real directory that this process's user owns and no one else may write.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is not a private directory of this user", dir)
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func checkoutMessage(err error) string {
	var re *RepoError
	if errors.As(err, &re) {
		return re.Msg
	}
	return strings.TrimPrefix(err.Error(), "gitrepo: ")
}

// readConfig reads and parses the pipeline file of the workspace.
func (r *buildRun) readConfig() (*pipeline.Config, string, error) {
	name := pipeline.DefaultFile
	fi, err := os.Lstat(filepath.Join(r.ws, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("%s: no such file at the root of the repository at commit %s; add one to tell Slipway how to build (see docs/pipeline.md)", name, models.ShortSHA(r.b.CommitSHA))
	case err != nil:
		return nil, "", fmt.Errorf("%s: %w", name, err)
	case !fi.Mode().IsRegular():
		return nil, "", fmt.Errorf("%s: not a regular file", name)
	case fi.Size() > pipeline.MaxFileSize:
		return nil, "", fmt.Errorf("%s: %d bytes is over the %d byte limit", name, fi.Size(), pipeline.MaxFileSize)
	}
	data, err := os.ReadFile(filepath.Join(r.ws, name))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	cfg, err := pipeline.Parse(name, data)
	if err != nil {
		return nil, "", err
	}
	return cfg, string(data), nil
}

// buildEnv is what every step sees besides PATH, HOME, LANG, CI and the
// cache variables. SOURCE_DATE_EPOCH is the commit's date, which tools
// that follow the reproducible-builds convention stamp instead of the
// clock, so a rebuild of a commit gives the same bytes.
func (r *buildRun) buildEnv() map[string]string {
	env := map[string]string{
		"SLIPWAY_BUILD_ID":     strconv.FormatInt(r.b.ID, 10),
		"SLIPWAY_BUILD_NUMBER": strconv.FormatInt(r.b.Number, 10),
		"SLIPWAY_PROJECT":      r.b.Project.Slug,
		"SLIPWAY_COMMIT_SHA":   r.b.CommitSHA,
		"SLIPWAY_REF":          r.b.Ref,
		"SLIPWAY_REF_TYPE":     r.b.RefType,
		workerEnv:              r.j.workerID,
	}
	if !r.sourceDate.IsZero() {
		env["SOURCE_DATE_EPOCH"] = strconv.FormatInt(r.sourceDate.Unix(), 10)
	}
	return env
}

// packArtifact packs the declared paths into a file beside the workspace
// and puts it in the artifact store.
func (r *buildRun) packArtifact(ctx context.Context, paths []string) (artifact.Info, error) {
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(r.ws, filepath.FromSlash(p))); errors.Is(err, fs.ErrNotExist) {
			return artifact.Info{}, fmt.Errorf("declared artifact path %q does not exist in the workspace after the build", p)
		}
	}
	f, err := os.CreateTemp(r.base, "artifact-*.tar.gz")
	if err != nil {
		return artifact.Info{}, fmt.Errorf("pack: %w", err)
	}
	defer f.Close()
	if err := artifact.Pack(r.ws, paths, f); err != nil {
		return artifact.Info{}, errors.New(strings.TrimPrefix(err.Error(), "artifact: "))
	}
	if _, err := f.Seek(0, 0); err != nil {
		return artifact.Info{}, fmt.Errorf("pack: %w", err)
	}
	info, err := r.j.deps.Artifacts.Put(ctx, f)
	if err != nil {
		return artifact.Info{}, fmt.Errorf("store: %w", err)
	}
	if err := r.store.UpsertArtifact(r.dbctx, &models.Artifact{SHA256: info.SHA256, Size: info.Size}); err != nil {
		return artifact.Info{}, err
	}
	return info, nil
}

// finish records the outcome and closes the log.
func (r *buildRun) finish(status, reason string, started time.Time) {
	if r.w != nil {
		line := fmt.Sprintf("[slipway] build %s in %s", status, time.Since(started).Round(time.Millisecond))
		if reason != "" {
			line += ": " + reason
		}
		r.w.Line(line)
	}
	r.settleSteps(status)
	res := models.BuildResult{
		Status: status, Reason: clip(reason, 2048), PipelineYAML: r.pipelineYAML,
		ArtifactSHA256: r.artifactSHA, FinishedAt: time.Now().UTC(),
	}
	if r.w != nil {
		res.LogTruncated = r.w.Truncated()
		// Every line is stored before the status says the build ended,
		// so whoever sees the final status can read the whole log.
		if err := r.w.Flush(r.dbctx); err != nil {
			r.log.Error("flush build log", slog.Any("err", err))
		}
	}
	ok, err := r.store.FinishBuild(r.dbctx, r.b.ID, r.j.workerID, res)
	switch {
	case err != nil:
		r.log.Error("finish build", slog.Any("err", err))
	case !ok:
		r.log.Warn("build was finished elsewhere (recovery) before its worker ended it")
	case status == models.BuildSucceeded:
		// Auto-deploy: environments following this branch get the artifact.
		if b, err := r.store.Build(r.dbctx, r.b.ID); err != nil {
			r.log.Error("reload build for auto-deploy", slog.Any("err", err))
		} else if err := r.j.Delivery().AutoDeploy(r.dbctx, r.store, b); err != nil {
			r.log.Error("auto-deploy", slog.Any("err", err))
		}
	}
	if r.w != nil {
		if err := r.w.Close(r.dbctx, status); err != nil {
			r.log.Error("close build log", slog.Any("err", err))
		}
	}
}

// settleSteps marks steps that never ran as skipped and a step left
// running with the build's status.
func (r *buildRun) settleSteps(status string) {
	for _, st := range r.steps {
		switch st.Status {
		case models.StepPending:
			st.Status = runner.StatusSkipped
		case models.StepRunning:
			st.Status = status
		default:
			continue
		}
		if st.ID != 0 {
			if err := r.store.UpdateBuildStep(r.dbctx, st); err != nil {
				r.log.Warn("update build step", slog.Any("err", err))
			}
		}
	}
}

func (r *buildRun) cleanup() {
	for _, d := range r.trash {
		removeTree(d)
	}
	r.cache.release()
	if r.base != "" {
		removeTree(r.base)
	}
	r.j.evictCaches(r.j.deps.BuildCacheMax)
}

// removeTree deletes a directory even where a build left parts of it
// read-only (the Go module cache does that).
func removeTree(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

// addStep appends a pending step (not yet stored).
func (r *buildRun) addStep(name string) *models.BuildStep {
	st := &models.BuildStep{BuildID: r.b.ID, Position: len(r.steps), Name: name, Status: models.StepPending}
	r.steps = append(r.steps, st)
	return st
}

func (r *buildRun) createSteps(steps ...*models.BuildStep) error {
	rows := make([]models.BuildStep, len(steps))
	for i, st := range steps {
		rows[i] = *st
	}
	if err := r.store.CreateBuildSteps(r.dbctx, rows); err != nil {
		return fmt.Errorf("record steps: %w", err)
	}
	for i := range steps {
		steps[i].ID = rows[i].ID
	}
	return nil
}

// startStep marks a step running and writes its header line, which is
// the step's first line in the log.
func (r *buildRun) startStep(st *models.BuildStep) {
	now := time.Now().UTC()
	st.Status, st.StartedAt = models.StepRunning, &now
	st.FirstLine = r.w.Line("[slipway] ── step " + st.Name)
	st.LastLine = st.FirstLine
	r.saveStep(st)
}

// endStep records how a step ended, with a closing line in the log.
func (r *buildRun) endStep(st *models.BuildStep, status string, exit *int, msg string) {
	now := time.Now().UTC()
	st.Status, st.ExitCode, st.FinishedAt = status, exit, &now
	if st.StartedAt != nil {
		st.DurationMS = now.Sub(*st.StartedAt).Milliseconds()
	}
	d := time.Duration(st.DurationMS) * time.Millisecond
	line := fmt.Sprintf("[slipway] step %s %s in %s", st.Name, statusWords(status), d)
	if status != runner.StatusSucceeded && msg != "" {
		line += ": " + msg
	}
	if n := r.w.Line(line); n > 0 {
		st.LastLine = n
	}
	if st.FirstLine == 0 {
		st.FirstLine = st.LastLine
	}
	r.saveStep(st)
}

func (r *buildRun) saveStep(st *models.BuildStep) {
	if err := r.store.UpdateBuildStep(r.dbctx, st); err != nil {
		r.log.Warn("update build step", slog.Any("err", err))
	}
}

// sys writes one of the portal's own lines.
func (r *buildRun) sys(text string) { r.w.Line("[slipway] " + text) }

// stepSink feeds the runner's progress into the log and the step rows.
type stepSink struct {
	r    *buildRun
	rows []*models.BuildStep
}

func (s *stepSink) StepStarted(i int, _ string) { s.r.startStep(s.rows[i]) }

func (s *stepSink) Line(_ int, stream, text string, _ time.Time) {
	if stream == runner.StreamSystem {
		text = "[slipway] " + text
	}
	s.r.w.Line(text)
}

func (s *stepSink) StepFinished(i int, res runner.StepResult) {
	st := s.rows[i]
	if res.Status == runner.StatusSkipped {
		st.Status = runner.StatusSkipped
		s.r.saveStep(st)
		return
	}
	var code *int
	if res.ExitCode >= 0 && (res.Status == runner.StatusSucceeded || res.Status == runner.StatusFailed) {
		c := res.ExitCode
		code = &c
	}
	s.r.endStep(st, res.Status, code, res.Err)
}

func statusWords(s string) string {
	switch s {
	case runner.StatusTimedOut:
		return "timed out"
	case runner.StatusCanceled:
		return "was stopped"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
