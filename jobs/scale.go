package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/models"
)

// ScaleArgs brings an environment's live pool to its saved number of
// instances, without a deploy.
type ScaleArgs struct {
	EnvironmentID int64 `json:"environment_id"`
}

// Kind names the job for River.
func (ScaleArgs) Kind() string { return "scale" }

// InsertOpts puts scaling on the deploys queue, in the process that runs
// the environments. A failed scale is not retried: the page shows the pool
// as it is, and the next scale or deploy tries again.
func (ScaleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDeploys, MaxAttempts: 1}
}

// ScaleWorker runs ScaleArgs.
type ScaleWorker struct {
	river.WorkerDefaults[ScaleArgs]
	deps Deps
}

// Timeout bounds one scale: starting up to MaxInstances instances at once.
func (w *ScaleWorker) Timeout(*river.Job[ScaleArgs]) time.Duration { return 10 * time.Minute }

// Work reads the environment's instances now (a later change wins over
// the one that queued the job) and resizes the live pool.
func (w *ScaleWorker) Work(ctx context.Context, job *river.Job[ScaleArgs]) error {
	env, err := w.deps.Store.Environment(ctx, job.Args.EnvironmentID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if env.Target != models.TargetProcess || env.Instances < 1 {
		return nil
	}
	if err := w.deps.Deploy.Scale(ctx, env.EngineKey(), env.Instances); err != nil {
		return fmt.Errorf("jobs: scale %s to %d: %w", env.Name, env.Instances, err)
	}
	return nil
}

// EnqueueScale queues a ScaleArgs job for env in store's transaction.
func (j *Jobs) EnqueueScale(ctx context.Context, tx *models.Store, envID int64) error {
	_, err := j.InsertTx(ctx, tx, ScaleArgs{EnvironmentID: envID}, nil)
	return err
}
