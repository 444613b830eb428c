package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/models"
)

// MaintenanceArgs is the periodic housekeeping job: expired sessions now,
// retention and orphan cleanup as they arrive.
type MaintenanceArgs struct{}

// Kind names the job for River.
func (MaintenanceArgs) Kind() string { return "maintenance" }

// InsertOpts keeps a single maintenance job pending at a time.
func (MaintenanceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
}

// MaintenanceWorker runs MaintenanceArgs.
type MaintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	store *models.Store
	log   *slog.Logger
}

// Timeout bounds one maintenance run.
func (w *MaintenanceWorker) Timeout(*river.Job[MaintenanceArgs]) time.Duration {
	return 5 * time.Minute
}

// Work deletes expired sessions and old notification deliveries.
func (w *MaintenanceWorker) Work(ctx context.Context, job *river.Job[MaintenanceArgs]) error {
	n, err := w.store.DeleteExpiredSessions(ctx, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("jobs: maintenance: %w", err)
	}
	if n > 0 {
		w.log.Info("expired sessions removed", slog.Int64("count", n))
	}
	// The notification delivery log keeps finished deliveries for
	// models.DeliveryRetention.
	n, err = w.store.PruneDeliveries(ctx, time.Now().Add(-models.DeliveryRetention))
	if err != nil {
		return fmt.Errorf("jobs: maintenance: %w", err)
	}
	if n > 0 {
		w.log.Info("old notification deliveries removed", slog.Int64("count", n))
	}
	return nil
}
