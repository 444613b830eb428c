package handlers

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/views/pages"
)

// doraLabels names the metrics on the page.
var doraLabels = map[string]string{
	dora.DeploymentFrequency: "Deployment frequency",
	dora.LeadTime:            "Change lead time",
	dora.ChangeFailureRate:   "Change fail rate",
	dora.RecoveryTime:        "Failed deployment recovery time",
	dora.ReworkRate:          "Deployment rework rate",
}

// showDORA draws a project's DORA metrics for one environment and window.
func (h *Handler) showDORA(c echo.Context) error {
	q, err := h.parseDORAQuery(c)
	if err != nil {
		return err
	}
	rep, err := h.jobs.DORA().Report(c.Request().Context(), q.env, q.days, h.now().UTC())
	if err != nil {
		return err
	}
	vm := pages.DORAPage{Slug: q.project.Slug, Name: q.project.Name, Environment: q.env.Name, Days: q.days, Windows: dora.Windows,
		From: rep.Days[0].Date, To: rep.Days[len(rep.Days)-1].Date,
		ChartJS: h.assets.URL("dora.js"), ChartCSS: h.assets.URL("uplot.css")}
	for _, e := range q.envs {
		vm.Environments = append(vm.Environments, e.Name)
	}
	vm.Chart.Dates = make([]string, len(rep.Days))
	for i, d := range rep.Days {
		vm.Chart.Dates[i] = d.Date
	}
	for _, m := range dora.Metrics {
		v := rep.Summary[m]
		vm.Cards = append(vm.Cards, pages.DORACard{Key: m, Label: doraLabels[m], Value: doraValueText(m, v), Band: v.Band, Detail: doraDetail(m, v, q.days)})
		unit, scale := doraChartUnit(m)
		s := pages.DORASeries{Key: m, Label: doraLabels[m], Unit: unit, Values: make([]*float64, len(rep.Days))}
		for i, d := range rep.Days {
			if x, ok := dora.Daily(m, d); ok {
				x = round6(x * scale)
				s.Values[i] = &x
			}
		}
		vm.Chart.Series = append(vm.Chart.Series, s)
		if th := dora.Thresholds[m]; len(th) > 0 {
			row := pages.DORABandRow{Label: doraLabels[m]}
			for _, t := range th {
				row.Limits = append(row.Limits, t.Limit)
			}
			vm.Bands = append(vm.Bands, row)
		}
	}
	return h.render(c, "DORA · "+q.project.Name, "projects", pages.DORA(vm))
}

// doraChartUnit is the unit a metric is charted in and the factor from
// its API value.
func doraChartUnit(metric string) (string, float64) {
	switch metric {
	case dora.LeadTime, dora.RecoveryTime:
		return "hours", 1.0 / 3600
	case dora.ChangeFailureRate, dora.ReworkRate:
		return "%", 100
	}
	return "deployments", 1
}

// doraValueText writes a metric's value for people.
func doraValueText(metric string, v dora.Value) string {
	if !v.Ok {
		return "—"
	}
	switch metric {
	case dora.DeploymentFrequency:
		switch {
		case v.Value >= 1 || v.Value == 0:
			return trimFloat(v.Value) + " per day"
		case v.Value*7 >= 1:
			return trimFloat(v.Value*7) + " per week"
		}
		return trimFloat(v.Value*30) + " per month"
	case dora.LeadTime, dora.RecoveryTime:
		return humanDuration(time.Duration(v.Value * float64(time.Second)))
	}
	return trimFloat(v.Value*100) + "%"
}

// doraDetail says what a value is made of.
func doraDetail(metric string, v dora.Value, days int) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	switch metric {
	case dora.DeploymentFrequency:
		return plural(v.Samples, "deployment", "deployments") + " in " + strconv.Itoa(days) + " days"
	case dora.LeadTime:
		if !v.Ok {
			return "no commit went live"
		}
		return "median of " + plural(v.Samples, "commit", "commits")
	case dora.RecoveryTime:
		if !v.Ok {
			return "no failure recovered"
		}
		return "median of " + plural(v.Samples, "recovery", "recoveries")
	}
	if !v.Ok {
		return "no deployment"
	}
	return "of " + plural(v.Samples, "deployment", "deployments")
}

// trimFloat writes v with at most one decimal, without a trailing ".0".
func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// humanDuration writes d as "45 s", "12 min", "3 h 20 min" or "2 d 4 h".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}
