package jobs

import (
	"context"

	"github.com/slipway-ci/slipway/models"
)

// recheckAuto is the deploy worker's last look at an auto release before
// it starts (delivery.Service.RecheckAuto: it must still move the
// environment forward). It reports true when the release was skipped.
func (w *DeployWorker) recheckAuto(ctx context.Context, rel *models.Release) (bool, error) {
	return w.j.Delivery().RecheckAuto(ctx, rel)
}
