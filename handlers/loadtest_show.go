package handlers

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showLoadTest shows one run: live while it runs, the result after.
func (h *Handler) showLoadTest(c echo.Context) error {
	ctx := c.Request().Context()
	l, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	var spec loadtest.Spec
	_ = json.Unmarshal([]byte(l.Spec), &spec) // written by EnqueueLoadTest; a bad one shows empty
	canRun := auth.Can(roleOf(currentUser(c)), auth.RunLoadTest)
	p := pages.LoadTestRunPage{
		CSRF: csrfToken(c), Now: h.now(), ID: l.ID, Ref: l.Ref(), Project: l.Project.Name, Environment: l.Environment.Name,
		Status: l.Status, Verdict: l.Verdict, Error: l.Error, Artifact: l.ArtifactSHA256, BaseURL: l.BaseURL,
		CreatedAt: l.CreatedAt, DurationSeconds: int(l.Duration / time.Second), Targets: spec.Targets,
		Running: !models.LoadTestFinished(l.Status), CanRun: canRun, By: "API or deleted user",
		ChartJS: h.assets.URL("loadtest.js"), ChartCSS: h.assets.URL("uplot.css"),
	}
	p.CanCancel = p.Running && canRun
	if l.Plan != nil {
		p.PlanID, p.Plan = l.Plan.ID, l.Plan.Name
	}
	if l.CreatedBy != nil {
		p.By = l.CreatedBy.Username
	}
	if l.ReleaseID != nil {
		p.ReleaseRef = "#" + idStr(*l.ReleaseID)
	}
	if l.StartedAt != nil {
		p.StartedAt = *l.StartedAt
	}
	if l.FinishedAt != nil {
		p.FinishedAt = *l.FinishedAt
	}
	p.Spec = specRows(spec)
	p.ThresholdsJSON = thresholdsJSON(spec.Thresholds)
	if rep := reportOf(l); rep == nil && !p.Running {
		// Interrupted (or failed before a report): show what was measured
		// until it stopped, from the windows the run kept.
		partialWindows(&p, l.Windows)
	} else if rep != nil {
		fillReport(&p, rep)
		if l.PlanID != nil {
			others, err := h.store.LoadTests(ctx, models.LoadTestFilter{PlanID: *l.PlanID, Limit: 50})
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.ID != l.ID && o.Report != "" {
					p.Compare = append(p.Compare, pages.CompareOption{ID: o.ID,
						Label: fmt.Sprintf("%s · %s · %s", o.Ref(), o.Status, o.CreatedAt.UTC().Format("2 Jan 15:04"))})
				}
			}
		}
	}
	return h.render(c, "Load test "+l.Ref(), "loadtests", pages.LoadTestRun(p))
}

// loadTestFrom loads the run named by the :id parameter.
func (h *Handler) loadTestFrom(c echo.Context) (*models.LoadTest, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	return h.store.LoadTest(c.Request().Context(), id)
}

// reportOf decodes a finished run's report, or returns nil.
func reportOf(l *models.LoadTest) *loadtest.Report {
	if l.Report == "" {
		return nil
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(l.Report), &rep); err != nil || rep.Checks == nil {
		return nil
	}
	return &rep
}

// specRows describes a spec for people.
func specRows(s loadtest.Spec) []pages.MetricRow {
	rate := fmtNum(s.Rate) + " req/s"
	if s.Pacer == loadtest.PacerLinear {
		rate = fmtNum(s.Rate) + " → " + fmtNum(s.RateTo) + " req/s (linear ramp)"
	}
	workers := "default"
	if s.MaxWorkers > 0 {
		workers = strconv.FormatUint(s.MaxWorkers, 10)
	}
	rows := []pages.MetricRow{{Label: "Rate", Value: rate}, {Label: "Duration", Value: s.Duration.String()},
		{Label: "Timeout", Value: s.Timeout.String()}, {Label: "Workers", Value: workers}}
	return rows
}

func fmtMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// fillReport puts a report's figures on the page.
func fillReport(p *pages.LoadTestRunPage, rep *loadtest.Report) {
	p.HasReport = true
	lat := rep.Latencies
	p.Latencies = []pages.MetricRow{
		{Label: "min", Value: fmtMS(lat.Min)}, {Label: "mean", Value: fmtMS(lat.Mean)}, {Label: "p50", Value: fmtMS(lat.P50)},
		{Label: "p90", Value: fmtMS(lat.P90)}, {Label: "p95", Value: fmtMS(lat.P95)}, {Label: "p99", Value: fmtMS(lat.P99)},
		{Label: "max", Value: fmtMS(lat.Max)},
	}
	p.Summary = []pages.MetricRow{
		{Label: "Requests", Value: strconv.FormatUint(rep.Requests, 10)},
		{Label: "Rate sent", Value: fmt.Sprintf("%.2f req/s", rep.Rate)},
		{Label: "Throughput", Value: fmt.Sprintf("%.2f successes/s", rep.Throughput)},
		{Label: "Success ratio", Value: fmt.Sprintf("%.2f %%", rep.Success*100)},
		{Label: "Bytes in", Value: strconv.FormatUint(rep.BytesIn, 10)},
		{Label: "Bytes out", Value: strconv.FormatUint(rep.BytesOut, 10)},
		{Label: "Duration", Value: rep.Duration.Round(time.Millisecond).String()},
	}
	codes := make([]string, 0, len(rep.StatusCodes))
	for k := range rep.StatusCodes {
		codes = append(codes, k)
	}
	sort.Strings(codes)
	for _, k := range codes {
		p.StatusCodes = append(p.StatusCodes, pages.CountRow{Key: k, Count: rep.StatusCodes[k]})
	}
	p.Errors = rep.Errors
	p.PerTarget = targetRows(rep.Targets, p.BaseURL)
	p.Checks = checkRows(rep.Checks)
	var total uint64
	for _, b := range rep.Histogram {
		total += b.Count
	}
	for _, b := range rep.Histogram {
		label := fmt.Sprintf("%s – %s", compactMS(b.From), compactMS(b.To))
		if b.To == 0 {
			label = "≥ " + compactMS(b.From)
		}
		bar := pages.HistogramBar{Label: label, Count: b.Count}
		if total > 0 {
			bar.Percent = float64(b.Count) * 100 / float64(total)
		}
		p.Histogram = append(p.Histogram, bar)
	}
	w, err := json.Marshal(rep.Windows)
	if err != nil {
		w = []byte("[]")
	}
	p.WindowsJSON = string(w)
}

// chartThresholds are the thresholds a run's chart draws as horizontal
// lines: latencies in ms, the error rate in percent.
type chartThresholds struct {
	P95           float64 `json:"p95,omitempty"`
	P99           float64 `json:"p99,omitempty"`
	MaxErrorPct   float64 `json:"max_error_pct,omitempty"`
	MinThroughput float64 `json:"min_throughput,omitempty"`
	// HasErrorPct is set when a success ratio is required, so that a
	// required 100 % (a 0 % error line) is still drawn.
	HasErrorPct bool `json:"has_error_pct,omitempty"`
}

// thresholdsJSON encodes a spec's thresholds for the chart.
func thresholdsJSON(t loadtest.Thresholds) string {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	c := chartThresholds{P95: ms(t.P95), P99: ms(t.P99), MinThroughput: t.MinThroughput}
	if t.MinSuccessRatio > 0 {
		// Rounded: 1 - 0.99 is 0.010000000000000009 in floating point.
		c.HasErrorPct, c.MaxErrorPct = true, math.Round((1-t.MinSuccessRatio)*100*1e6)/1e6
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// targetRows maps a report's per-target breakdown for display, naming each
// target by its method and its URL relative to the run's base URL.
func targetRows(ts []loadtest.TargetStats, base string) []pages.TargetRow {
	out := make([]pages.TargetRow, 0, len(ts))
	base = strings.TrimSuffix(base, "/")
	for _, t := range ts {
		u := t.URL
		if base != "" && strings.HasPrefix(u, base+"/") {
			u = strings.TrimPrefix(u, base)
		}
		r := pages.TargetRow{Target: t.Method + " " + u, Requests: t.Requests, Errors: t.Errors, ErrorPercent: "–"}
		if t.Requests > 0 {
			r.ErrorPercent = fmt.Sprintf("%.1f %%", float64(t.Errors)*100/float64(t.Requests))
		}
		for _, e := range t.TopErrors {
			r.TopErrors = append(r.TopErrors, pages.CountRow{Key: e.Message, Count: int(e.Count)})
		}
		for k, n := range t.StatusCodes {
			r.Codes = append(r.Codes, pages.CountRow{Key: k, Count: n})
		}
		sort.Slice(r.Codes, func(i, j int) bool {
			if r.Codes[i].Count != r.Codes[j].Count {
				return r.Codes[i].Count > r.Codes[j].Count
			}
			return r.Codes[i].Key < r.Codes[j].Key
		})
		out = append(out, r)
	}
	return out
}

// partialWindows puts the windows of a run that has no report on the page,
// with totals summed from them.
func partialWindows(p *pages.LoadTestRunPage, raw string) {
	var ws []loadtest.Window
	if err := json.Unmarshal([]byte(raw), &ws); err != nil || len(ws) == 0 {
		return
	}
	var reqs, oks int
	for _, w := range ws {
		reqs += w.Requests
		oks += w.Successes
	}
	p.HasWindows, p.WindowsJSON = true, raw
	p.Summary = []pages.MetricRow{
		{Label: "Seconds measured", Value: strconv.Itoa(len(ws))},
		{Label: "Responses", Value: strconv.Itoa(reqs)},
		{Label: "Successful", Value: strconv.Itoa(oks)},
	}
	if reqs > 0 {
		p.Summary = append(p.Summary, pages.MetricRow{Label: "Success ratio", Value: fmt.Sprintf("%.2f %%", float64(oks)*100/float64(reqs))})
	}
}

// compactMS renders a histogram bound ("5 ms", "1 s").
func compactMS(d time.Duration) string {
	if d >= time.Second {
		return fmtNum(d.Seconds()) + " s"
	}
	return fmtNum(float64(d)/float64(time.Millisecond)) + " ms"
}

// checkRows maps a report's checks for display.
func checkRows(cs []loadtest.Check) []pages.CheckRow {
	out := make([]pages.CheckRow, len(cs))
	for i, c := range cs {
		out[i] = pages.CheckRow{Name: checkLabel(c.Name), Want: c.Want, Got: c.Got, Pass: c.Pass}
	}
	return out
}

// checkLabel names a check for people.
func checkLabel(name string) string {
	switch name {
	case loadtest.CheckRequests:
		return "responses"
	case loadtest.CheckSuccesses:
		return "successful responses"
	case loadtest.CheckCompleted:
		return "ran to the end"
	case loadtest.CheckP95:
		return "p95 latency"
	case loadtest.CheckP99:
		return "p99 latency"
	case loadtest.CheckSuccessRatio:
		return "success ratio"
	case loadtest.CheckThroughput:
		return "throughput"
	}
	return name
}
