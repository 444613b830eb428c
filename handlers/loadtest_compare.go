package handlers

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	p.LoadDiffers = loadDifferences(specFrom(a.Spec), specFrom(b.Spec))
	p.AWindowsJSON, p.BWindowsJSON = windowsJSON(ra.Windows), windowsJSON(rb.Windows)
	p.ADurationSeconds, p.BDurationSeconds = int(a.Duration/time.Second), int(b.Duration/time.Second)
	p.ChartJS, p.ChartCSS = h.assets.URL("loadtest.js"), h.assets.URL("uplot.css")
	for _, d := range loadtest.Compare(ra, rb) {
		r := deltaRow(d)
		if len(p.LoadDiffers) > 0 {
			// Under different load a higher throughput or a lower
			// latency says nothing about the app: no winner.
			r.Better, r.Worse, r.Neutral = false, false, false
			r.Incomparable = true
		}
		p.Deltas = append(p.Deltas, r)
	}
	return h.render(c, "Compare "+a.Ref()+" and "+b.Ref(), "loadtests", pages.LoadTestCompare(p))
}

// windowsJSON encodes a report's per-second series for a chart.
func windowsJSON(ws []loadtest.Window) string {
	if ws == nil {
		ws = []loadtest.Window{}
	}
	b, err := json.Marshal(ws)
	if err != nil {
		return "[]"
	}
	return string(b)
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
	case withinNoise(d):
		// Leave it "= same": run-to-run noise is no verdict.
	default:
		up := d.Abs > 0
		r.Better = up != d.LowerIsBetter
		r.Worse = !r.Better
	}
	return r
}

// withinNoise reports whether a delta is too small to call either run
// better: under 1 % for rates and latencies, under 0.1 percentage point
// for the success ratio.
func withinNoise(d loadtest.Delta) bool {
	if d.Metric == "success" {
		return math.Abs(d.Abs) < 0.001
	}
	if d.HasRel {
		return math.Abs(d.Rel) < 0.01
	}
	return math.Abs(d.Abs) < 1e-9
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

// specFrom decodes a run's spec; a bad one compares as empty.
func specFrom(raw string) loadtest.Spec {
	var s loadtest.Spec
	_ = json.Unmarshal([]byte(raw), &s)
	return s
}

// loadDifferences lists how the load of two runs differed: pacer, rate,
// duration and targets. Empty when they sent the same load.
func loadDifferences(a, b loadtest.Spec) []string {
	var out []string
	rate := func(s loadtest.Spec) string {
		if s.Pacer == "linear" || s.RateTo > 0 {
			return fmt.Sprintf("%s → %s/s (ramp)", fmtRate(s.Rate), fmtRate(s.RateTo))
		}
		return fmtRate(s.Rate) + "/s"
	}
	if a.Pacer != b.Pacer || a.Rate != b.Rate || a.RateTo != b.RateTo {
		out = append(out, "rate "+rate(a)+" in A, "+rate(b)+" in B")
	}
	if a.Duration != b.Duration {
		out = append(out, fmt.Sprintf("duration %s in A, %s in B", a.Duration, b.Duration))
	}
	if strings.TrimSpace(a.Targets) != strings.TrimSpace(b.Targets) {
		out = append(out, "different targets")
	}
	return out
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }
