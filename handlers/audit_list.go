package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showAudit lists audit events, newest first, filtered and paged.
func (h *Handler) showAudit(c echo.Context) error {
	ctx := c.Request().Context()
	f, form, ferr := auditFilterFrom(c)
	actions, err := h.store.AuditActions(ctx)
	if err != nil {
		return err
	}
	p := pages.AuditPage{Now: h.now(), Filter: form, Actions: actions, CSVURL: withQuery("/audit.csv", auditQuery(form))}
	p.Filtered = len(auditQuery(form)) > 0
	if ferr != nil {
		p.FilterError = ferr.Error()
		return h.renderStatus(c, http.StatusBadRequest, "Audit", "audit", pages.Audit(p))
	}
	if f.Limit == 0 {
		f.Limit = models.DefaultAuditLimit
	}
	limit := f.Limit
	f.Limit++ // one more tells whether an older page exists
	es, err := h.store.AuditEvents(ctx, f)
	if err != nil {
		return err
	}
	if len(es) > limit {
		es = es[:limit]
		older := auditQuery(form)
		older.Set("before", strconv.FormatInt(es[len(es)-1].Seq, 10))
		p.OlderURL = withQuery("/audit", older)
	}
	if f.BeforeSeq > 0 {
		p.NewestURL = withQuery("/audit", auditQuery(form))
	}
	for _, e := range es {
		p.Rows = append(p.Rows, auditRow(e))
	}
	return h.render(c, "Audit", "audit", pages.Audit(p))
}

// auditRow shapes an event for the table; links narrow the filters to
// that actor or object.
func auditRow(e models.AuditEvent) pages.AuditRow {
	r := pages.AuditRow{Seq: e.Seq, At: e.At, Actor: e.ActorName, Action: e.Action,
		ActorURL: withQuery("/audit", url.Values{"actor": {e.ActorName}})}
	if e.ObjectType != "" || e.ObjectID != "" {
		r.Object = e.ObjectType + " " + e.ObjectID
		r.ObjectURL = withQuery("/audit", url.Values{"object_type": {e.ObjectType}, "object_id": {e.ObjectID}})
	}
	var kv map[string]json.RawMessage
	if json.Unmarshal([]byte(e.Details), &kv) != nil {
		return r
	}
	for k, raw := range kv {
		v := string(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			v = s
		}
		r.Details = append(r.Details, pages.AuditDetail{Key: k, Value: v})
	}
	sort.Slice(r.Details, func(i, j int) bool { return r.Details[i].Key < r.Details[j].Key })
	return r
}
