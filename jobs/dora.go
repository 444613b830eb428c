package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/models"
)

// DORARollupEvery is the period of the DORA rollup.
const DORARollupEvery = time.Hour

// DORARollupArgs is the hourly job that writes every environment's daily
// DORA values into the rollup (docs/dora.md).
type DORARollupArgs struct{}

// Kind names the job for River.
func (DORARollupArgs) Kind() string { return "dora_rollup" }

// InsertOpts keeps a single rollup pending at a time.
func (DORARollupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
}

// DORARollupWorker runs DORARollupArgs.
type DORARollupWorker struct {
	river.WorkerDefaults[DORARollupArgs]
	svc *dora.Service
	log *slog.Logger
	now func() time.Time
}

// Timeout bounds one rollup.
func (w *DORARollupWorker) Timeout(*river.Job[DORARollupArgs]) time.Duration { return 10 * time.Minute }

// Work recomputes the rollup of every environment.
func (w *DORARollupWorker) Work(ctx context.Context, _ *river.Job[DORARollupArgs]) error {
	n, err := w.svc.Rollup(ctx, w.now())
	if err != nil {
		return fmt.Errorf("jobs: dora rollup: %w", err)
	}
	w.log.Debug("dora rollup", slog.Int("environments", n))
	return nil
}

// DORA returns the DORA service over this process's store and
// repositories (the page, the API and the rollup share its rules).
func (j *Jobs) DORA() *dora.Service { return j.dora }

func doraRollupJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(DORARollupEvery),
		func() (river.JobArgs, *river.InsertOpts) { return DORARollupArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// repoDirOrEmpty is RepoDir, or "" when this process has no data dir (the
// DORA service then counts head commits only).
func (j *Jobs) repoDirOrEmpty(p *models.Project) string {
	if j.deps.DataDir == "" {
		return ""
	}
	return j.RepoDir(p)
}
