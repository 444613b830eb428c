package handlers

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// planFields are the load-test plan's fields as typed, by form name (the
// API's JSON names are the same, thresholds aside).
type planFields map[string]string

// fieldErrors maps form field names to what is wrong with them.
type fieldErrors map[string]string

// add records msg for field unless it already has a message.
func (fe fieldErrors) add(field, msg string) {
	if _, ok := fe[field]; !ok {
		fe[field] = msg
	}
}

// String lists the errors as "field: message; …", sorted, for API answers.
func (fe fieldErrors) String() string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return strings.Join(parts, "; ")
}

// formField maps an engine field name (loadtest.FieldError.Field) to the
// form's.
func formField(engine string) string {
	switch engine {
	case "thresholds.p95":
		return "p95_ms"
	case "thresholds.p99":
		return "p99_ms"
	case "thresholds.min_success_ratio":
		return "min_success_ratio"
	case "thresholds.min_throughput":
		return "min_throughput"
	case "base_url":
		return "environment"
	}
	return engine
}

// collectFieldErrors adds every *loadtest.FieldError in err to fe and
// reports whether err held only field errors.
func collectFieldErrors(fe fieldErrors, err error) bool {
	var queue []error
	queue = append(queue, err)
	only := true
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			queue = append(queue, j.Unwrap()...)
			continue
		}
		var f *loadtest.FieldError
		if errors.As(e, &f) {
			fe.add(formField(f.Field), f.Msg)
			continue
		}
		only = false
	}
	return only
}

// specFromFields parses the typed fields into a spec; fields that do not
// parse are reported in fe (the spec keeps their zero value).
func specFromFields(f planFields, fe fieldErrors) loadtest.Spec {
	s := loadtest.Spec{Targets: f["targets"], Pacer: strings.TrimSpace(f["pacer"])}
	num := func(name string, required bool) float64 {
		v := strings.TrimSpace(f[name])
		if v == "" {
			if required {
				fe.add(name, "is required")
			}
			return 0
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			fe.add(name, fmt.Sprintf("must be a number, not %q", v))
			return 0
		}
		return x
	}
	dur := func(name string, required bool) time.Duration {
		v := strings.TrimSpace(f[name])
		if v == "" {
			if required {
				fe.add(name, "is required, e.g. 30s")
			}
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			fe.add(name, fmt.Sprintf("must be a duration such as 30s or 2m, not %q", v))
			return 0
		}
		return d
	}
	ms := func(name string) time.Duration {
		x := num(name, false)
		return time.Duration(math.Round(x * float64(time.Millisecond)))
	}
	if strings.TrimSpace(s.Targets) == "" {
		fe.add("targets", "enter at least one target, e.g. GET /")
	}
	s.Rate = num("rate", true)
	if s.Pacer == loadtest.PacerLinear {
		s.RateTo = num("rate_to", true)
	}
	s.Duration = dur("duration", true)
	s.Timeout = dur("timeout", false)
	if s.Timeout == 0 && fe["timeout"] == "" {
		s.Timeout = 30 * time.Second
	}
	if w := num("max_workers", false); w != 0 {
		if w < 1 || w != math.Trunc(w) {
			fe.add("max_workers", "must be a whole number of at least 1")
		} else {
			s.MaxWorkers = uint64(w)
		}
	}
	s.Thresholds = loadtest.Thresholds{
		P95: ms("p95_ms"), P99: ms("p99_ms"),
		MinSuccessRatio: num("min_success_ratio", false), MinThroughput: num("min_throughput", false),
	}
	return s
}

// checkSpec validates s against the caps, as it would run in env, adding
// the problems to fe. An environment with nothing deployed is checked
// against a stand-in URL: a plan may be saved before the first deploy.
func checkSpec(s loadtest.Spec, env *models.Environment, limits models.LoadTestLimits, fe fieldErrors) {
	jobs.FitToLimits(&s, limits)
	s.BaseURL = env.URL()
	if s.BaseURL == "" {
		s.BaseURL = "http://environment.invalid"
	}
	// fe.add keeps the first message of a field, so a field that did not
	// parse keeps that message rather than one about its zero value.
	if err := s.Validate(jobs.LoadTestLimits(limits)); err != nil {
		collectFieldErrors(fe, err)
	}
}

// planToFields is a saved plan as form values.
func planToFields(p *models.LoadTestPlan) planFields {
	f := planFields{
		"name": p.Name, "environment": strconv.FormatInt(p.EnvironmentID, 10), "targets": p.Targets, "pacer": p.Pacer,
		"rate": fmtNum(p.Rate), "duration": p.Duration.String(), "timeout": p.Timeout.String(),
	}
	if p.RateTo != 0 {
		f["rate_to"] = fmtNum(p.RateTo)
	}
	if p.MaxWorkers != 0 {
		f["max_workers"] = strconv.FormatInt(p.MaxWorkers, 10)
	}
	if p.ThresholdP95 != 0 {
		f["p95_ms"] = fmtNum(float64(p.ThresholdP95) / float64(time.Millisecond))
	}
	if p.ThresholdP99 != 0 {
		f["p99_ms"] = fmtNum(float64(p.ThresholdP99) / float64(time.Millisecond))
	}
	if p.MinSuccessRatio != 0 {
		f["min_success_ratio"] = fmtNum(p.MinSuccessRatio)
	}
	if p.MinThroughput != 0 {
		f["min_throughput"] = fmtNum(p.MinThroughput)
	}
	return f
}

// planSpec is the spec a saved plan runs with.
func planSpec(p *models.LoadTestPlan) loadtest.Spec {
	return loadtest.Spec{
		Targets: p.Targets, Pacer: p.Pacer, Rate: p.Rate, RateTo: p.RateTo, Duration: p.Duration, Timeout: p.Timeout,
		MaxWorkers: uint64(max(p.MaxWorkers, 0)),
		Thresholds: loadtest.Thresholds{P95: p.ThresholdP95, P99: p.ThresholdP99, MinSuccessRatio: p.MinSuccessRatio, MinThroughput: p.MinThroughput},
	}
}

// applySpec copies a spec's fields onto a plan.
func applySpec(p *models.LoadTestPlan, s loadtest.Spec) {
	p.Targets, p.Pacer, p.Rate, p.RateTo, p.Duration, p.Timeout = s.Targets, s.Pacer, s.Rate, s.RateTo, s.Duration, s.Timeout
	if p.Pacer == "" {
		p.Pacer = loadtest.PacerConstant
	}
	if p.Pacer != loadtest.PacerLinear {
		p.RateTo = 0
	}
	p.MaxWorkers = int64(min(s.MaxWorkers, math.MaxInt32))
	p.ThresholdP95, p.ThresholdP99 = s.Thresholds.P95, s.Thresholds.P99
	p.MinSuccessRatio, p.MinThroughput = s.Thresholds.MinSuccessRatio, s.Thresholds.MinThroughput
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// limitsText describes the caps for people.
func limitsText(l models.LoadTestLimits) string {
	return fmt.Sprintf("Limits: at most %s req/s, %s per run, %d runs at once.", fmtNum(l.MaxRate), l.MaxDuration, l.MaxConcurrent)
}
