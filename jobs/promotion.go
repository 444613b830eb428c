package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// PromotionSweepArgs is the periodic job that deploys pending promotions
// whose wait ended by itself (a freeze window closed, a load test passed)
// and reflects finished deploys on their promotions.
type PromotionSweepArgs struct{}

// Kind names the job for River.
func (PromotionSweepArgs) Kind() string { return "promotion_sweep" }

// InsertOpts keeps a single sweep pending at a time.
func (PromotionSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 30 * time.Second}}
}

// PromotionSweepEvery is how often the sweep runs.
const PromotionSweepEvery = 30 * time.Second

// PromotionSweepWorker runs PromotionSweepArgs: delivery's sweep.
type PromotionSweepWorker struct {
	river.WorkerDefaults[PromotionSweepArgs]
	jobs *Jobs
}

// Timeout bounds one sweep.
func (w *PromotionSweepWorker) Timeout(*river.Job[PromotionSweepArgs]) time.Duration {
	return 2 * time.Minute
}

// Work advances every pending promotion.
func (w *PromotionSweepWorker) Work(ctx context.Context, job *river.Job[PromotionSweepArgs]) error {
	_, err := w.jobs.Delivery().Sweep(ctx)
	return err
}

func promotionSweepJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(PromotionSweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return PromotionSweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
