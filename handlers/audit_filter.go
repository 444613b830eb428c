package handlers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// auditFilterFrom reads the audit filters shared by the page, the CSV
// export and the API: actor, action, object_type, object_id, since and
// until (dates YYYY-MM-DD, both inclusive, UTC; or RFC 3339 times, until
// exclusive), before (a seq) and limit. The error names the bad parameter.
func auditFilterFrom(c echo.Context) (models.AuditFilter, pages.AuditFilterForm, error) {
	q := c.QueryParams()
	form := pages.AuditFilterForm{
		Actor:      strings.TrimSpace(q.Get("actor")),
		Action:     strings.TrimSpace(q.Get("action")),
		ObjectType: strings.TrimSpace(q.Get("object_type")),
		ObjectID:   strings.TrimSpace(q.Get("object_id")),
		Since:      strings.TrimSpace(q.Get("since")),
		Until:      strings.TrimSpace(q.Get("until")),
	}
	f := models.AuditFilter{Actor: form.Actor, Action: form.Action, ObjectType: form.ObjectType, ObjectID: form.ObjectID}
	var err error
	if f.Since, err = parseAuditTime("since", form.Since, false); err != nil {
		return f, form, err
	}
	if f.Until, err = parseAuditTime("until", form.Until, true); err != nil {
		return f, form, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, form, fmt.Errorf("until must be after since")
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.BeforeSeq <= 0 {
			return f, form, fmt.Errorf("before must be a positive event number, not %q", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > models.MaxAuditLimit {
			return f, form, fmt.Errorf("limit must be a number from 1 to %d", models.MaxAuditLimit)
		}
	}
	return f, form, nil
}

// parseAuditTime reads a date (a whole day, so an inclusive "until" ends
// at the next midnight) or an RFC 3339 time.
func parseAuditTime(name, v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s must be a date like 2026-03-01 or a time like 2026-03-01T12:00:00Z, not %q", name, v)
}

// query encodes the filters (without paging) for links.
func auditQuery(form pages.AuditFilterForm) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"actor": form.Actor, "action": form.Action, "object_type": form.ObjectType,
		"object_id": form.ObjectID, "since": form.Since, "until": form.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// withQuery appends v to path.
func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}
