package handlers

import (
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// auditBy builds an audit event done by the signed-in user. Append it with
// tx.AppendAudit inside the transaction that makes the change, so the
// event and the change commit together:
//
//	err := h.store.Tx(ctx, func(tx *models.Store) error {
//		if err := tx.DoTheChange(ctx, …); err != nil {
//			return err
//		}
//		return tx.AppendAudit(ctx, auditBy(c, models.AuditDeploy, "release", id, details))
//	})
func auditBy(c echo.Context, action, objectType, objectID string, details any) *models.AuditEvent {
	return models.NewAuditEvent(currentUser(c), action, objectType, objectID, details)
}

// idString formats a row ID as an audit object ID.
func idString(id int64) string { return strconv.FormatInt(id, 10) }
