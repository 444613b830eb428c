package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/models"
)

// ErrNothingDeployed is returned when a load test targets an environment
// with no live release: there is nothing to attack.
var ErrNothingDeployed = errors.New("nothing is deployed there")

// cancelPoll is how often a running load test looks for a cancel request
// in the database. River's JobCancel also cancels the job, but without
// LISTEN/NOTIFY it only polls every two seconds; this keeps cancel under a
// second whichever process asked.
const cancelPoll = 250 * time.Millisecond

// LoadTestArgs runs one load test.
type LoadTestArgs struct {
	LoadTestID int64 `json:"load_test_id"`
}

// Kind names the job for River.
func (LoadTestArgs) Kind() string { return "loadtest" }

// InsertOpts puts load tests on their queue. A load test is never retried:
// it would attack the environment twice.
func (LoadTestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueLoadTests, MaxAttempts: 1}
}

// LoadTestRequest says what to run where, for EnqueueLoadTest.
type LoadTestRequest struct {
	Env *models.Environment
	// PlanID is the plan the run comes from; nil for an inline spec.
	PlanID *int64
	// Spec is the load test; its BaseURL is set to the environment's URL.
	Spec loadtest.Spec
	By   *int64
}

// LoadTestLimits converts the admin caps to the engine's limits.
func LoadTestLimits(l models.LoadTestLimits) loadtest.Limits {
	return loadtest.Limits{MaxRate: l.MaxRate, MaxDuration: l.MaxDuration, MaxWorkers: uint64(max(l.MaxWorkers, 0))}
}

// FitToLimits gives a spec that leaves MaxWorkers unset the engine's
// default, or the admin cap if that is lower, so an unset field never
// fails validation.
func FitToLimits(s *loadtest.Spec, l models.LoadTestLimits) {
	if s.MaxWorkers == 0 {
		s.MaxWorkers = loadtest.DefaultMaxWorkers
		if l.MaxWorkers > 0 && uint64(l.MaxWorkers) < s.MaxWorkers {
			s.MaxWorkers = uint64(l.MaxWorkers)
		}
	}
}

// EnqueueLoadTest validates req against the admin caps and the
// environment, then creates the queued run and its job in one transaction.
//
// Invalid input is a join of *loadtest.FieldError (field "environment" when
// nothing is deployed there, wrapping ErrNothingDeployed); too many active
// runs is models.ErrTooManyLoadTests.
func (j *Jobs) EnqueueLoadTest(ctx context.Context, store *models.Store, req LoadTestRequest) (*models.LoadTest, error) {
	limits, err := store.LoadTestLimits(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	FitToLimits(&req.Spec, limits)
	req.Spec.BaseURL = req.Env.URL()
	if req.Spec.BaseURL == "" {
		errs = append(errs, nothingDeployed(req.Env))
		// Still check the rest against a stand-in for the URL.
		req.Spec.BaseURL = "http://environment.invalid"
	} else if _, err := store.LiveRelease(ctx, req.Env.ID); errors.Is(err, models.ErrNotFound) {
		errs = append(errs, nothingDeployed(req.Env))
	} else if err != nil {
		return nil, err
	}
	if err := req.Spec.Validate(LoadTestLimits(limits)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	spec, err := json.Marshal(req.Spec)
	if err != nil {
		return nil, fmt.Errorf("jobs: enqueue load test: %w", err)
	}
	l := &models.LoadTest{ProjectID: req.Env.ProjectID, PlanID: req.PlanID, EnvironmentID: req.Env.ID,
		BaseURL: req.Spec.BaseURL, Spec: string(spec), Duration: req.Spec.Duration, CreatedByID: req.By}
	err = store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateLoadTest(ctx, l, limits.MaxConcurrent); err != nil {
			return err
		}
		res, err := j.InsertTx(ctx, tx, LoadTestArgs{LoadTestID: l.ID}, nil)
		if err != nil {
			return err
		}
		l.JobID = res.Job.ID
		return tx.SetLoadTestJob(ctx, l.ID, res.Job.ID)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func nothingDeployed(env *models.Environment) error {
	return &loadtest.FieldError{Field: "environment",
		Msg: fmt.Sprintf("%s has nothing deployed: deploy a build there first (%v)", env.Name, ErrNothingDeployed)}
}

// CancelLoadTest stops a run: a queued one at once, a running one within a
// second, whichever process runs it. It returns models.ErrNotFound for a
// run that already finished.
func (j *Jobs) CancelLoadTest(ctx context.Context, store *models.Store, l *models.LoadTest) error {
	wasQueued, err := store.CancelLoadTest(ctx, l.ID, time.Now().UTC())
	if err != nil {
		return err
	}
	if l.JobID != 0 {
		if _, err := j.client.JobCancel(ctx, l.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
			// The flag in the row still stops the run.
			j.log.Warn("cancel load test job", slog.Int64("load_test", l.ID), slog.Any("err", err))
		}
	}
	if wasQueued && j.deps.Logs != nil {
		// The worker will never open the stream: end it here so live
		// viewers learn the run is over.
		if w, err := j.deps.Logs.NewWriter(ctx, l.LogStream()); err == nil {
			if err := w.Close(ctx, models.LoadTestCanceled); err != nil {
				j.log.Warn("close load test stream", slog.Int64("load_test", l.ID), slog.Any("err", err))
			}
		}
	}
	return nil
}

// LoadTestWorker runs LoadTestArgs: it attacks the environment with the
// run's spec, publishes one JSON line per second to the run's log stream,
// and records the report and verdict.
type LoadTestWorker struct {
	river.WorkerDefaults[LoadTestArgs]
	deps Deps
	j    *Jobs
}

// Work runs the load test. Every outcome is recorded on the run; the job
// itself fails only when the database cannot be written.
func (w *LoadTestWorker) Work(ctx context.Context, job *river.Job[LoadTestArgs]) error {
	store, log := w.deps.Store, w.deps.Logger.With(slog.Int64("load_test", job.Args.LoadTestID))
	// Writes after the run must happen even when ctx was canceled.
	bg := context.WithoutCancel(ctx)
	lt, err := store.LoadTest(ctx, job.Args.LoadTestID)
	if errors.Is(err, models.ErrNotFound) {
		return nil // deleted with its project
	}
	if err != nil {
		return fmt.Errorf("jobs: load test: %w", err)
	}
	switch lt.Status {
	case models.LoadTestQueued:
	case models.LoadTestRunning:
		// A retry of this job: an earlier attempt started the attack and
		// its process stopped. Never attack twice; record what happened.
		return w.j.interruptLoadTest(bg, lt, ReasonLoadTestRetried)
	default:
		return nil // canceled while queued, or finished by recovery
	}

	var sink *streamSink
	if w.deps.Logs != nil {
		lw, err := w.deps.Logs.NewWriter(ctx, lt.LogStream())
		if err != nil {
			return fmt.Errorf("jobs: load test: open stream: %w", err)
		}
		sink = &streamSink{w: lw}
	}
	finish := func(r models.LoadTestResult) error {
		if sink != nil {
			if err := sink.w.Close(bg, r.Status); err != nil {
				log.Warn("close load test stream", slog.Any("err", err))
			}
		}
		if err := store.FinishLoadTest(bg, lt.ID, r, time.Now().UTC()); err != nil && !errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("jobs: load test: %w", err)
		}
		return nil
	}
	fail := func(msg string) error {
		return finish(models.LoadTestResult{Status: models.LoadTestError, Verdict: loadtest.VerdictFail, Error: msg})
	}

	var spec loadtest.Spec
	if err := json.Unmarshal([]byte(lt.Spec), &spec); err != nil {
		return fail("the stored spec cannot be read: " + err.Error())
	}
	env, err := store.Environment(ctx, lt.EnvironmentID)
	if err != nil {
		return fail("the environment is gone: " + err.Error())
	}
	live, err := store.LiveRelease(ctx, env.ID)
	if errors.Is(err, models.ErrNotFound) || env.URL() == "" {
		return fail(fmt.Sprintf("%s has nothing deployed any more: deploy a build there and run again", env.Name))
	}
	if err != nil {
		return fmt.Errorf("jobs: load test: %w", err)
	}
	// The environment's URL now, not at creation: its edge may have moved.
	spec.BaseURL = env.URL()
	started, err := store.StartLoadTest(ctx, lt.ID, live.ID, live.ArtifactSHA256, spec.BaseURL, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("jobs: load test: %w", err)
	}
	if !started {
		return finish(models.LoadTestResult{Status: models.LoadTestCanceled, Verdict: loadtest.VerdictFail})
	}

	runCtx, cancel := context.WithTimeout(ctx, spec.Duration+spec.Timeout+loadTestOverrun)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.watchCancel(runCtx, cancel, lt.ID, log)
	}()
	rep, err := loadtest.Run(runCtx, spec, sink.window)
	cancel()
	wg.Wait()
	if err != nil {
		return fail("the spec is not valid any more: " + err.Error())
	}

	status := models.LoadTestFailed
	if rep.Verdict == loadtest.VerdictPass {
		status = models.LoadTestPassed
	}
	var errText string
	if rep.Canceled {
		status = models.LoadTestCanceled
		if req, err := store.LoadTestCancelRequested(bg, lt.ID); err == nil && !req {
			// Nobody asked: the worker is shutting down or the run overran.
			status, errText = models.LoadTestInterrupted, ReasonLoadTestShutdown
			if ctx.Err() == nil {
				errText = ReasonLoadTestOverran
			}
		}
	}
	report, err := json.Marshal(rep)
	if err != nil {
		return fail("the report cannot be encoded: " + err.Error())
	}
	windows, err := json.Marshal(rep.Windows)
	if err != nil {
		return fail("the windows cannot be encoded: " + err.Error())
	}
	log.Info("load test finished", slog.String("status", status), slog.Uint64("requests", rep.Requests))
	return finish(models.LoadTestResult{Status: status, Verdict: rep.Verdict, Report: string(report), Windows: string(windows), Error: errText})
}

// watchCancel cancels the run when its row says so, until ctx ends.
func (w *LoadTestWorker) watchCancel(ctx context.Context, cancel context.CancelFunc, id int64, log *slog.Logger) {
	t := time.NewTicker(cancelPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			req, err := w.deps.Store.LoadTestCancelRequested(ctx, id)
			if err != nil && ctx.Err() == nil {
				log.Warn("check load test cancel", slog.Any("err", err))
			}
			if req {
				cancel()
				return
			}
		}
	}
}

// streamSink publishes windows to a log stream, one JSON object a line.
// A nil sink publishes nothing.
type streamSink struct {
	w *logs.Writer
}

// window publishes one window; it never blocks (logs.Writer.Line).
func (s *streamSink) window(win loadtest.Window) {
	if s == nil {
		return
	}
	b, err := json.Marshal(win)
	if err != nil {
		return // a Window always encodes
	}
	s.w.Line(string(b))
}
