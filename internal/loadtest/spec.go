package loadtest

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Pacer names.
const (
	// PacerConstant sends Rate requests per second throughout.
	PacerConstant = "constant"
	// PacerLinear ramps linearly from Rate to RateTo over Duration.
	PacerLinear = "linear"
)

// Defaults for zero-valued Spec fields, and bounds on the others.
const (
	// DefaultMaxBody is the response body cap when Spec.MaxBody is 0.
	DefaultMaxBody = 64 << 10
	// DefaultMaxWorkers is the worker cap when Spec.MaxWorkers is 0.
	DefaultMaxWorkers = 256
	// MinDuration is the shortest attack: windows are one second long.
	MinDuration = time.Second
	// CeilingRate is the highest rate Validate accepts whatever the limits,
	// in requests per second; far beyond what one worker can send, it keeps
	// the pacer's arithmetic sound.
	CeilingRate = 1e6
)

// Spec describes one load test. Zero MaxBody, MaxWorkers and Pacer take their
// defaults (DefaultMaxBody, DefaultMaxWorkers, PacerConstant).
type Spec struct {
	// BaseURL is the environment's URL, e.g. http://127.0.0.1:41234.
	BaseURL string `json:"base_url"`
	// Targets is target text in a format ParseTargets accepts.
	Targets string `json:"targets"`
	// AllowHosts are hosts besides BaseURL's that targets and redirects may reach.
	AllowHosts []string `json:"allow_hosts,omitempty"`
	// Pacer is PacerConstant or PacerLinear.
	Pacer string `json:"pacer"`
	// Rate is the request rate in requests per second; the starting rate of
	// a linear ramp.
	Rate float64 `json:"rate"`
	// RateTo is the final rate of a linear ramp; ignored by the constant pacer.
	RateTo float64 `json:"rate_to,omitempty"`
	// Duration is how long requests are sent.
	Duration time.Duration `json:"duration"`
	// Timeout bounds one request, redirects and body read included.
	Timeout time.Duration `json:"timeout"`
	// MaxWorkers caps concurrent requests.
	MaxWorkers uint64 `json:"max_workers,omitempty"`
	// MaxBody caps the bytes read from each response body.
	MaxBody int64 `json:"max_body,omitempty"`
	// Thresholds decide the verdict.
	Thresholds Thresholds `json:"thresholds"`
}

// Thresholds are the pass conditions of a load test; a zero field is unset.
type Thresholds struct {
	// P95 is the highest acceptable 95th percentile latency.
	P95 time.Duration `json:"p95,omitempty"`
	// P99 is the highest acceptable 99th percentile latency.
	P99 time.Duration `json:"p99,omitempty"`
	// MinSuccessRatio is the lowest acceptable share of 2xx/3xx responses, 0..1.
	MinSuccessRatio float64 `json:"min_success_ratio,omitempty"`
	// MinThroughput is the lowest acceptable rate of successful responses per second.
	MinThroughput float64 `json:"min_throughput,omitempty"`
}

// Limits are the admin caps a Spec is validated against; a zero field is no cap.
type Limits struct {
	// MaxRate caps Rate and RateTo, in requests per second.
	MaxRate float64 `json:"max_rate"`
	// MaxDuration caps Duration and Timeout.
	MaxDuration time.Duration `json:"max_duration"`
	// MaxWorkers caps MaxWorkers.
	MaxWorkers uint64 `json:"max_workers"`
}

// FieldError reports an invalid Spec field. Field is the snake_case name the
// field has in JSON ("rate", "thresholds.p95", …), so a form can show Msg
// next to it.
type FieldError struct {
	Field string
	Msg   string
	err   error // underlying error, e.g. the *TargetError for "targets"
}

// Error returns "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the underlying error, if any.
func (e *FieldError) Unwrap() error { return e.err }

// pacer returns the pacer name with its default applied.
func (s Spec) pacer() string {
	if s.Pacer == "" {
		return PacerConstant
	}
	return s.Pacer
}

// maxWorkers returns MaxWorkers with its default applied.
func (s Spec) maxWorkers() uint64 {
	if s.MaxWorkers == 0 {
		return DefaultMaxWorkers
	}
	return s.MaxWorkers
}

// maxBody returns MaxBody with its default applied.
func (s Spec) maxBody() int64 {
	if s.MaxBody == 0 {
		return DefaultMaxBody
	}
	return s.MaxBody
}

// Validate checks s against the admin limits l. It reports every invalid
// field: the result joins one *FieldError per field (errors.As finds the
// first; unwrap the join for all). Target errors are a FieldError on
// "targets" that unwraps to the *TargetError.
func (s Spec) Validate(l Limits) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if _, err := newHostPolicy(s.BaseURL, s.AllowHosts); err != nil {
		bad("base_url", "%v", err)
	} else if _, err := ParseTargets(s.BaseURL, s.Targets, s.AllowHosts); err != nil {
		errs = append(errs, &FieldError{Field: "targets", Msg: err.Error(), err: err})
	}

	checkRate := func(field string, r float64) {
		switch {
		case math.IsNaN(r) || math.IsInf(r, 0) || r <= 0:
			bad(field, "must be above 0 requests per second")
		case l.MaxRate > 0 && r > l.MaxRate:
			bad(field, "must be at most %g requests per second", l.MaxRate)
		case r > CeilingRate:
			bad(field, "must be at most %g requests per second", float64(CeilingRate))
		}
	}
	checkRate("rate", s.Rate)
	switch s.pacer() {
	case PacerConstant:
	case PacerLinear:
		if s.RateTo == 0 {
			bad("rate_to", "is required for a linear ramp")
		} else {
			checkRate("rate_to", s.RateTo)
		}
	default:
		bad("pacer", "must be %q or %q, not %q", PacerConstant, PacerLinear, s.Pacer)
	}

	switch {
	case s.Duration < MinDuration:
		bad("duration", "must be at least %s", MinDuration)
	case l.MaxDuration > 0 && s.Duration > l.MaxDuration:
		bad("duration", "must be at most %s", l.MaxDuration)
	}
	switch {
	case s.Timeout <= 0:
		bad("timeout", "must be above 0")
	case l.MaxDuration > 0 && s.Timeout > l.MaxDuration:
		bad("timeout", "must be at most %s", l.MaxDuration)
	}
	if l.MaxWorkers > 0 && s.maxWorkers() > l.MaxWorkers {
		bad("max_workers", "must be at most %d", l.MaxWorkers)
	}
	if s.MaxBody < 0 {
		bad("max_body", "must not be negative")
	}

	t := s.Thresholds
	if t.P95 < 0 {
		bad("thresholds.p95", "must not be negative")
	}
	if t.P99 < 0 {
		bad("thresholds.p99", "must not be negative")
	}
	if math.IsNaN(t.MinSuccessRatio) || t.MinSuccessRatio < 0 || t.MinSuccessRatio > 1 {
		bad("thresholds.min_success_ratio", "must be between 0 and 1")
	}
	if math.IsNaN(t.MinThroughput) || math.IsInf(t.MinThroughput, 0) || t.MinThroughput < 0 {
		bad("thresholds.min_throughput", "must not be negative")
	}
	return errors.Join(errs...)
}
