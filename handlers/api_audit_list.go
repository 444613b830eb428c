package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// auditEventResponse is one event as the API shows it.
type auditEventResponse struct {
	Seq        int64           `json:"seq"`
	At         time.Time       `json:"at"`
	ActorID    *int64          `json:"actor_id"`
	ActorName  string          `json:"actor_name"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Details    json.RawMessage `json:"details"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// auditListResponse is GET /api/v1/audit.
type auditListResponse struct {
	Events []auditEventResponse `json:"events"`
	// NextBefore is the "before" value of the next (older) page; 0 when
	// this is the last.
	NextBefore int64 `json:"next_before,omitempty"`
}

// apiListAudit lists audit events with the page's filters, newest first.
func (h *Handler) apiListAudit(c echo.Context) error {
	f, _, err := auditFilterFrom(c)
	if err != nil {
		return badRequest(err.Error())
	}
	if f.Limit == 0 {
		f.Limit = models.DefaultAuditLimit
	}
	limit := f.Limit
	f.Limit++
	es, err := h.store.AuditEvents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	resp := auditListResponse{Events: []auditEventResponse{}}
	if len(es) > limit {
		es = es[:limit]
		resp.NextBefore = es[len(es)-1].Seq
	}
	for _, e := range es {
		resp.Events = append(resp.Events, auditEventResponse{Seq: e.Seq, At: e.At, ActorID: e.ActorID, ActorName: e.ActorName,
			Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Details: json.RawMessage(e.Details),
			PrevHash: e.PrevHash, Hash: e.Hash})
	}
	return c.JSON(http.StatusOK, resp)
}
