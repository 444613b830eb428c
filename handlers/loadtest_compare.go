package handlers

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/views/pages"
)

// compareLoadTests shows run :id and run ?with= of the same plan side by
// side: the older as A (the baseline), the newer as B, with the deltas
// B − A.
func (h *Handler) compareLoadTests(c echo.Context) error {
	a, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	withID, err := strconv.ParseInt(c.QueryParam("with"), 10, 64)
	if err != nil {
		return badRequest("choose the run to compare with (?with=<run id>)")
	}
	b, err := h.store.LoadTest(c.Request().Context(), withID)
	if err != nil {
		return err
	}
	if a.ID > b.ID {
		// The older run is the baseline, whichever page the user came
		// from: Δ then reads "how the newer run moved".
		a, b = b, a
	}
	if a.PlanID == nil || b.PlanID == nil || *a.PlanID != *b.PlanID {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "only runs of the same plan can be compared")
	}
	ra, rb := reportOf(a), reportOf(b)
	if ra == nil || rb == nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "both runs must have finished with a report")
	}
	p := pages.LoadTestComparePage{Plan: a.Plan.Name, A: runRow(a), B: runRow(b), ChecksA: checkRows(ra.Checks), ChecksB: checkRows(rb.Checks)}
	for _, d := range loadtest.Compare(ra, rb) {
		p.Deltas = append(p.Deltas, deltaRow(d))
	}
	return h.render(c, "Compare "+a.Ref()+" and "+b.Ref(), "loadtests", pages.LoadTestCompare(p))
}

// deltaRow formats one delta; "better" follows the metric's direction.
func deltaRow(d loadtest.Delta) pages.DeltaRow {
	unit := d.Unit
	if unit != "" {
		unit = " " + unit
	}
	prec := 2
	if d.Metric == "requests" {
		prec = 0 // a count
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', prec, 64) + unit }
	r := pages.DeltaRow{Label: metricLabel(d.Metric), A: f(d.A), B: f(d.B), Abs: fmt.Sprintf("%+.*f%s", prec, d.Abs, unit), Rel: "–"}
	if d.HasRel {
		r.Rel = fmt.Sprintf("%+.1f %%", d.Rel*100)
	}
	switch {
	case d.Metric == "requests" || d.Metric == "rate":
		// What was sent follows the plan; neither way is better.
		r.Neutral = true
	case math.Abs(d.Abs) > 1e-9:
		up := d.Abs > 0
		r.Better = up != d.LowerIsBetter
		r.Worse = !r.Better
	}
	return r
}

func metricLabel(m string) string {
	switch m {
	case "requests":
		return "Requests"
	case "rate":
		return "Rate sent"
	case "throughput":
		return "Throughput"
	case "success":
		return "Success ratio"
	case "latency_mean":
		return "Latency mean"
	case "latency_p50":
		return "Latency p50"
	case "latency_p90":
		return "Latency p90"
	case "latency_p95":
		return "Latency p95"
	case "latency_p99":
		return "Latency p99"
	case "latency_max":
		return "Latency max"
	}
	return m
}
