package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/models"
)

// ErrBuildFinished is returned by CancelBuild for a build that already
// ended.
var ErrBuildFinished = errors.New("build already finished")

// CancelBuild stops a build. A queued build is canceled at once and never
// starts. A running build is marked for cancel and its River job is
// cancelled, which ends the job's context in whichever process runs it (at
// once in this process and, through LISTEN/NOTIFY, on PostgreSQL in any
// other); the worker also polls the mark, so the step's process group is
// stopped within about a second either way. by is the user who asked.
func (j *Jobs) CancelBuild(ctx context.Context, store *models.Store, b *models.Build, by *models.User) error {
	var byID *int64
	reason := "canceled before it started"
	if by != nil {
		byID = &by.ID
		reason = "canceled by " + by.Username + " before it started"
	}
	was, err := store.RequestBuildCancel(ctx, b.ID, byID, reason, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("jobs: cancel build: %w", err)
	}
	switch was {
	case models.BuildQueued:
		if b.JobID != 0 {
			if _, err := j.client.JobCancel(ctx, b.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
				j.log.Warn("cancel queued build job", slog.Int64("build_id", b.ID), slog.Any("err", err))
			}
		}
		if j.deps.Logs != nil {
			w, err := j.deps.Logs.NewWriter(ctx, models.BuildLogStream(b.ID))
			if err != nil {
				return fmt.Errorf("jobs: cancel build: %w", err)
			}
			w.Line("[slipway] build " + reason)
			if err := w.Close(ctx, models.BuildCanceled); err != nil {
				return fmt.Errorf("jobs: cancel build: %w", err)
			}
		}
		return nil
	case models.BuildRunning:
		if b.JobID != 0 {
			if _, err := j.client.JobCancel(ctx, b.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
				// The worker's poll of the cancel mark still stops it.
				j.log.Warn("cancel running build job", slog.Int64("build_id", b.ID), slog.Any("err", err))
			}
		}
		return nil
	}
	return fmt.Errorf("jobs: cancel build %d (%s): %w", b.ID, was, ErrBuildFinished)
}
