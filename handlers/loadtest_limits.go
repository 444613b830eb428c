package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showLoadTestLimits shows the admin caps on load tests.
func (h *Handler) showLoadTestLimits(c echo.Context) error {
	l, err := h.store.LoadTestLimits(c.Request().Context())
	if err != nil {
		return err
	}
	v := map[string]string{"max_rate": fmtNum(l.MaxRate), "max_duration": l.MaxDuration.String(),
		"max_concurrent": strconv.Itoa(l.MaxConcurrent), "max_workers": strconv.FormatInt(l.MaxWorkers, 10)}
	return h.renderLimits(c, http.StatusOK, v, nil, l.UpdatedAt)
}

// saveLoadTestLimits changes the admin caps.
func (h *Handler) saveLoadTestLimits(c echo.Context) error {
	v, fe := map[string]string{}, fieldErrors{}
	for _, k := range []string{"max_rate", "max_duration", "max_concurrent", "max_workers"} {
		v[k] = strings.TrimSpace(c.FormValue(k))
	}
	var l models.LoadTestLimits
	rate, err := strconv.ParseFloat(v["max_rate"], 64)
	if err != nil || !(rate > 0) || rate > loadtest.CeilingRate {
		fe.add("max_rate", fmt.Sprintf("must be a number above 0 and at most %g", float64(loadtest.CeilingRate)))
	}
	d, err := time.ParseDuration(v["max_duration"])
	if err != nil || d < loadtest.MinDuration {
		fe.add("max_duration", "must be a duration of at least 1s, e.g. 10m")
	}
	n, err := strconv.Atoi(v["max_concurrent"])
	if err != nil || n < 1 || n > 100 {
		fe.add("max_concurrent", "must be a whole number from 1 to 100")
	}
	w, err := strconv.ParseInt(v["max_workers"], 10, 64)
	if err != nil || w < 1 || w > 100000 {
		fe.add("max_workers", "must be a whole number from 1 to 100000")
	}
	if len(fe) > 0 {
		return h.renderLimits(c, http.StatusUnprocessableEntity, v, fe, time.Time{})
	}
	l = models.LoadTestLimits{MaxRate: rate, MaxDuration: d, MaxConcurrent: n, MaxWorkers: w, UpdatedByID: &currentUser(c).ID}
	ctx := c.Request().Context()
	// The change and its audit event commit together; the old caps are
	// read under the same lock, so the event says exactly what changed.
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		before, err := tx.ReplaceLoadTestLimits(ctx, l)
		if err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditLoadTestLimits, "loadtest_limits", "1",
			map[string]any{"before": limitsDetails(before), "after": limitsDetails(l)}))
	})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/admin/loadtests", "success", "Load-test limits saved.")
}

// limitsDetails describes caps for an audit event.
func limitsDetails(l models.LoadTestLimits) map[string]any {
	return map[string]any{"max_rate": l.MaxRate, "max_duration": l.MaxDuration.String(),
		"max_concurrent": l.MaxConcurrent, "max_workers": l.MaxWorkers}
}

func (h *Handler) renderLimits(c echo.Context, status int, v map[string]string, fe fieldErrors, updated time.Time) error {
	p := pages.LoadTestLimitsPage{CSRF: csrfToken(c), Values: v, Errors: fe, UpdatedAt: updated, Now: h.now()}
	return h.renderStatus(c, status, "Load-test limits", "admin", pages.LoadTestLimits(p))
}
