package dora

import "time"

// Metric names, as the API spells them (GitLab's where GitLab has one).
const (
	DeploymentFrequency = "deployment_frequency"
	LeadTime            = "lead_time_for_changes"
	ChangeFailureRate   = "change_failure_rate"
	RecoveryTime        = "time_to_restore_service"
	ReworkRate          = "rework_rate"
)

// Metrics lists the metric names in display order.
var Metrics = []string{DeploymentFrequency, LeadTime, ChangeFailureRate, RecoveryTime, ReworkRate}

// Bands, from best to worst; NoBand when there is no data or the metric
// has no published bands.
const (
	Elite  = "elite"
	High   = "high"
	Medium = "medium"
	Low    = "low"
	NoBand = ""
)

// Threshold is one band's limit for a metric, in words for the page.
type Threshold struct {
	Band  string
	Limit string
}

// Thresholds are the bands of each metric as the DORA report gives them
// (docs/dora.md). Rework rate has no published bands.
var Thresholds = map[string][]Threshold{
	DeploymentFrequency: {{Elite, "at least daily (on demand)"}, {High, "daily to weekly"}, {Medium, "weekly to monthly"}, {Low, "less than monthly"}},
	LeadTime:            {{Elite, "less than a day"}, {High, "a day to a week"}, {Medium, "a week to a month"}, {Low, "more than a month"}},
	ChangeFailureRate:   {{Elite, "5% or less"}, {High, "10% or less"}, {Medium, "15% or less"}, {Low, "more than 15%"}},
	RecoveryTime:        {{Elite, "less than an hour"}, {High, "less than a day"}, {Medium, "a day to a week"}, {Low, "more than a week"}},
}

const day = 24 * time.Hour

// Value is a metric over a window: Ok is false when there is nothing to
// measure (no deployment, no commit, no recovery).
type Value struct {
	Value float64
	Ok    bool
	Band  string
	// Samples is how many events the value is made of: deployments for
	// the rates and frequency, commits for lead time, recoveries for
	// recovery time.
	Samples int
}

// Summary is the five metrics over a window of days.
type Summary map[string]Value

// Summarize computes each metric over days: deployment frequency in
// deployments per day, lead time and recovery time as medians in
// seconds, change failure and rework rates as ratios 0..1.
func Summarize(days []Day) Summary {
	var deps, fails, reworks int
	var leads, recov []float64
	for _, d := range days {
		deps += d.Deployments
		fails += d.Failures
		reworks += d.Reworks
		leads = append(leads, d.LeadTimes...)
		recov = append(recov, d.RecoveryTimes...)
	}
	s := Summary{}
	if len(days) > 0 {
		// Zero deployments is a measurement too (but earns no band).
		s[DeploymentFrequency] = Value{Value: float64(deps) / float64(len(days)), Ok: true, Samples: deps}
	}
	if m, ok := Median(leads); ok {
		s[LeadTime] = Value{Value: m, Ok: true, Samples: len(leads)}
	}
	if m, ok := Median(recov); ok {
		s[RecoveryTime] = Value{Value: m, Ok: true, Samples: len(recov)}
	}
	if deps > 0 {
		s[ChangeFailureRate] = Value{Value: float64(fails) / float64(deps), Ok: true, Samples: deps}
		s[ReworkRate] = Value{Value: float64(reworks) / float64(deps), Ok: true, Samples: deps}
	}
	for k, v := range s {
		if k == DeploymentFrequency && v.Samples == 0 {
			continue // no deployment in the window: no band to give
		}
		v.Band = BandOf(k, v.Value)
		s[k] = v
	}
	return s
}

// BandOf places a metric's value in its band.
func BandOf(metric string, v float64) string {
	switch metric {
	case DeploymentFrequency: // deployments per day
		switch {
		case v >= 1:
			return Elite
		case v >= 1.0/7:
			return High
		case v >= 1.0/30:
			return Medium
		}
		return Low
	case LeadTime:
		d := seconds(v)
		switch {
		case d < day:
			return Elite
		case d <= 7*day:
			return High
		case d <= 30*day:
			return Medium
		}
		return Low
	case RecoveryTime:
		d := seconds(v)
		switch {
		case d < time.Hour:
			return Elite
		case d < day:
			return High
		case d <= 7*day:
			return Medium
		}
		return Low
	case ChangeFailureRate:
		switch {
		case v <= 0.05:
			return Elite
		case v <= 0.10:
			return High
		case v <= 0.15:
			return Medium
		}
		return Low
	}
	return NoBand
}

func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// Daily is one metric's value on each day; Ok false where the day has no
// value (no deployment, commit or recovery).
func Daily(metric string, d Day) (float64, bool) {
	switch metric {
	case DeploymentFrequency:
		return float64(d.Deployments), true
	case LeadTime:
		return Median(d.LeadTimes)
	case RecoveryTime:
		return Median(d.RecoveryTimes)
	case ChangeFailureRate:
		if d.Deployments == 0 {
			return 0, false
		}
		return float64(d.Failures) / float64(d.Deployments), true
	case ReworkRate:
		if d.Deployments == 0 {
			return 0, false
		}
		return float64(d.Reworks) / float64(d.Deployments), true
	}
	return 0, false
}
