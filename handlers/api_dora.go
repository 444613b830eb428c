package handlers

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/dora"
)

// doraPoint is one value of a metric, GitLab's /dora/metrics shape; Date
// is null for interval=all and Value null where there is nothing to
// measure.
type doraPoint struct {
	Date  *string  `json:"date"`
	Value *float64 `json:"value"`
}

// doraMetricJSON is one metric over the window, with its daily values.
type doraMetricJSON struct {
	Metric  string      `json:"metric"`
	Value   *float64    `json:"value"`
	Unit    string      `json:"unit"`
	Band    *string     `json:"band"`
	Samples int         `json:"samples"`
	Daily   []doraPoint `json:"daily"`
}

// doraJSON is GET /api/v1/projects/:slug/dora without ?metric=.
type doraJSON struct {
	Project     string           `json:"project"`
	Environment string           `json:"environment"`
	Days        int              `json:"days"`
	From        string           `json:"from"`
	To          string           `json:"to"`
	Metrics     []doraMetricJSON `json:"metrics"`
}

// doraUnits names each metric's unit in the API.
var doraUnits = map[string]string{
	dora.DeploymentFrequency: "deployments_per_day",
	dora.LeadTime:            "seconds",
	dora.ChangeFailureRate:   "ratio",
	dora.RecoveryTime:        "seconds",
	dora.ReworkRate:          "ratio",
}

// apiDORA answers an environment's DORA metrics over 7, 30 or 90 days
// (docs/api.md): all of them, or with ?metric= one of them as GitLab's
// list of {date, value}.
func (h *Handler) apiDORA(c echo.Context) error {
	metric, interval := c.QueryParam("metric"), c.QueryParam("interval")
	if metric != "" && !slices.Contains(dora.Metrics, metric) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "metric must be one of deployment_frequency, lead_time_for_changes, change_failure_rate, time_to_restore_service, rework_rate (got "+strconv.Quote(metric)+")")
	}
	if interval != "" && interval != "daily" && interval != "all" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "interval must be daily or all (got "+strconv.Quote(interval)+")")
	}
	q, err := h.parseDORAQuery(c)
	if err != nil {
		return err
	}
	rep, err := h.jobs.DORA().Report(c.Request().Context(), q.env, q.days, h.now().UTC())
	if err != nil {
		return err
	}
	if metric != "" {
		if interval == "all" {
			v := summaryPoint(rep.Summary[metric])
			return c.JSON(http.StatusOK, []doraPoint{{Value: v}})
		}
		return c.JSON(http.StatusOK, dailyPoints(metric, rep.Days))
	}
	out := doraJSON{Project: q.project.Slug, Environment: q.env.Name, Days: q.days,
		From: rep.Days[0].Date, To: rep.Days[len(rep.Days)-1].Date, Metrics: []doraMetricJSON{}}
	for _, m := range dora.Metrics {
		v := rep.Summary[m]
		mj := doraMetricJSON{Metric: m, Value: summaryPoint(v), Unit: doraUnits[m], Samples: v.Samples}
		if v.Band != dora.NoBand {
			band := v.Band
			mj.Band = &band
		}
		if interval != "all" {
			mj.Daily = dailyPoints(m, rep.Days)
		}
		out.Metrics = append(out.Metrics, mj)
	}
	return c.JSON(http.StatusOK, out)
}

func summaryPoint(v dora.Value) *float64 {
	if !v.Ok {
		return nil
	}
	x := round6(v.Value)
	return &x
}

func dailyPoints(metric string, days []dora.Day) []doraPoint {
	out := make([]doraPoint, 0, len(days))
	for _, d := range days {
		date := d.Date
		p := doraPoint{Date: &date}
		if v, ok := dora.Daily(metric, d); ok {
			x := round6(v)
			p.Value = &x
		}
		out = append(out, p)
	}
	return out
}

// round6 keeps JSON numbers short (5/7 → 0.714286).
func round6(v float64) float64 {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	x, _ := strconv.ParseFloat(s, 64)
	return x
}
