package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/models"
)

// Reasons a load test ends interrupted, shown on its page and in the API.
const (
	// ReasonLoadTestWorkerDied is the reason of a run finished by recovery:
	// the process attacking stopped (kill -9, a crash, power loss).
	ReasonLoadTestWorkerDied = "interrupted: the process running this load test stopped (restart or crash) before the run finished; the windows up to then are kept"
	// ReasonLoadTestNeverStarted is the reason of a queued run whose job
	// was taken by a process that stopped before it could start the attack.
	ReasonLoadTestNeverStarted = "interrupted: the process that took this load test stopped before the attack started; run it again"
	// ReasonLoadTestRetried is the reason recorded when River retries the
	// job of a run whose attack had already started: it is never run twice.
	ReasonLoadTestRetried = "interrupted: the process running this load test stopped mid-run; it was not run a second time"
	// ReasonLoadTestShutdown is the reason of a run cut short by a
	// graceful shutdown of its process.
	ReasonLoadTestShutdown = "interrupted: the process running this load test was shut down before the run finished"
	// ReasonLoadTestOverran is the reason of a run that outlived its own
	// deadline (duration + timeout + a minute) and was stopped.
	ReasonLoadTestOverran = "interrupted: the run outlived its duration and request timeout by more than a minute and was stopped"
)

const (
	// loadTestOverrun is how long past its duration and request timeout a
	// worker lets an attack go on before it stops it (see Work).
	loadTestOverrun = time.Minute
	// loadTestLostAfter is how long past that hard stop a run may stay
	// "running" before recovery takes its worker for dead, wherever it
	// ran: a live worker has finished the run long before.
	loadTestLostAfter = 2 * time.Minute
	// loadTestStartGrace is how long a taken job may leave its run queued
	// before recovery takes the worker for dead: starting takes a few
	// database reads.
	loadTestStartGrace = 2 * time.Minute
	// loadTestReapEvery is the period of the job that finishes lost runs.
	loadTestReapEvery = time.Minute
)

// RecoverLoadTests finishes as interrupted every load test whose attack
// can no longer be going on, and closes its live stream, keeping the
// windows published before the stop:
//
//   - a running run whose River job is no longer running (finished, gone,
//     or waiting for a retry), or was taken by a process of this machine
//     that is dead;
//   - a running run past its hard deadline (duration + request timeout +
//     overrun + grace): whichever machine ran it, a live worker would have
//     ended it by then;
//   - a queued run whose job will never start it (finished or gone, taken
//     by a dead process of this machine, or taken long ago elsewhere).
//
// A run a live worker is executing is never touched: its job is running,
// attempted by a live process, within its deadline. Start calls it before
// taking work; the load-test reaper calls it every minute.
func (j *Jobs) RecoverLoadTests(ctx context.Context) error {
	ls, err := j.deps.Store.UnfinishedLoadTests(ctx)
	if err != nil {
		return fmt.Errorf("jobs: recover load tests: %w", err)
	}
	now := time.Now().UTC()
	var errs []error
	for i := range ls {
		l := &ls[i]
		if l.JobID == 0 {
			continue // its job is being inserted in the same transaction
		}
		reason := ""
		switch l.Status {
		case models.LoadTestRunning:
			if j.loadTestJobGone(ctx, l.JobID) || l.StartedAt == nil || now.After(l.StartedAt.Add(loadTestDeadline(l)+loadTestLostAfter)) {
				reason = ReasonLoadTestWorkerDied
			}
		case models.LoadTestQueued:
			if j.loadTestNeverStarts(ctx, l.JobID, now) {
				reason = ReasonLoadTestNeverStarted
			}
		}
		if reason == "" {
			continue
		}
		if err := j.interruptLoadTest(ctx, l, reason); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadTestDeadline is how long after its start a worker stops a run at
// the latest: its duration, its request timeout and the overrun allowance.
func loadTestDeadline(l *models.LoadTest) time.Duration {
	var spec loadtest.Spec
	_ = json.Unmarshal([]byte(l.Spec), &spec) // a bad spec only loses the timeout
	return l.Duration + max(spec.Timeout, 0) + loadTestOverrun
}

// loadTestJobGone reports whether no live worker can be running the job of
// a running load test: the job is gone, finished or waiting to be
// (re)tried, or its last attempt was by a dead process of this machine.
// An error reading the job counts as "maybe alive".
func (j *Jobs) loadTestJobGone(ctx context.Context, jobID int64) bool {
	job, err := j.client.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	if job.State != rivertype.JobStateRunning {
		return true
	}
	n := len(job.AttemptedBy)
	return n > 0 && job.AttemptedBy[n-1] != j.workerID && j.localWorkerDead(job.AttemptedBy[n-1])
}

// loadTestNeverStarts reports whether a queued load test's job will never
// start it.
func (j *Jobs) loadTestNeverStarts(ctx context.Context, jobID int64, now time.Time) bool {
	job, err := j.client.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	switch job.State {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return true
	case rivertype.JobStateRunning:
		n := len(job.AttemptedBy)
		if n == 0 || job.AttemptedBy[n-1] == j.workerID {
			return false
		}
		if j.localWorkerDead(job.AttemptedBy[n-1]) {
			return true
		}
		return job.AttemptedAt != nil && now.Sub(*job.AttemptedAt) > loadTestStartGrace
	}
	return false // available, scheduled or retryable: it will start it
}

// interruptLoadTest finishes l as interrupted with reason, keeping the
// windows its stream holds, and closes the stream so live pages learn the
// run is over. A run whose status changed meanwhile (it finished, or a
// worker started a queued one) is left alone.
func (j *Jobs) interruptLoadTest(ctx context.Context, l *models.LoadTest, reason string) error {
	windows, closed, err := j.streamWindows(ctx, l)
	if err != nil {
		return err
	}
	done, err := j.deps.Store.InterruptLoadTest(ctx, l.ID, l.Status, reason, windows, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("jobs: interrupt load test %d: %w", l.ID, err)
	}
	if !done {
		return nil
	}
	j.log.Warn("load test interrupted", slog.Int64("load_test", l.ID), slog.String("reason", reason))
	if closed || j.deps.Logs == nil {
		return nil
	}
	w, err := j.deps.Logs.NewWriter(ctx, l.LogStream())
	if err != nil {
		return fmt.Errorf("jobs: close the stream of interrupted load test %d: %w", l.ID, err)
	}
	if err := w.Close(ctx, models.LoadTestInterrupted); err != nil {
		return fmt.Errorf("jobs: close the stream of interrupted load test %d: %w", l.ID, err)
	}
	return nil
}

// streamWindows reads the windows a run's worker published (one JSON line
// a second) as the JSON array the run keeps, "" when there are none or no
// log service, and whether the stream is already closed.
func (j *Jobs) streamWindows(ctx context.Context, l *models.LoadTest) (string, bool, error) {
	if j.deps.Logs == nil {
		return "", false, nil
	}
	var ws []loadtest.Window
	closed := false
	for from := 1; ; {
		page, err := j.deps.Logs.Read(ctx, l.LogStream(), from, 0)
		if err != nil {
			return "", false, fmt.Errorf("jobs: read the windows of load test %d: %w", l.ID, err)
		}
		closed = page.Closed
		for _, ev := range page.Lines {
			var w loadtest.Window
			if json.Unmarshal([]byte(ev.Text), &w) == nil {
				ws = append(ws, w)
			}
		}
		if len(page.Lines) == 0 || page.Next > page.Total {
			break
		}
		from = page.Next
	}
	if len(ws) == 0 {
		return "", closed, nil
	}
	b, err := json.Marshal(ws)
	if err != nil {
		return "", false, fmt.Errorf("jobs: encode the windows of load test %d: %w", l.ID, err)
	}
	return string(b), closed, nil
}

// LoadTestReaperArgs is the periodic job that finishes load tests whose
// worker stopped for good (a machine that never came back).
type LoadTestReaperArgs struct{}

// Kind names the job for River.
func (LoadTestReaperArgs) Kind() string { return "loadtest_reaper" }

// InsertOpts keeps one reaper pending at a time.
func (LoadTestReaperArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: loadTestReapEvery}}
}

// LoadTestReaperWorker runs LoadTestReaperArgs.
type LoadTestReaperWorker struct {
	river.WorkerDefaults[LoadTestReaperArgs]
	j *Jobs
}

// Timeout bounds one reaper run.
func (w *LoadTestReaperWorker) Timeout(*river.Job[LoadTestReaperArgs]) time.Duration {
	return time.Minute
}

// Work finishes lost load tests.
func (w *LoadTestReaperWorker) Work(ctx context.Context, _ *river.Job[LoadTestReaperArgs]) error {
	return w.j.RecoverLoadTests(ctx)
}
