package loadtest

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// validSpec returns a spec that passes Validate with testLimits.
func validSpec() Spec {
	return Spec{
		BaseURL:  base,
		Targets:  "GET /",
		Pacer:    PacerConstant,
		Rate:     50,
		Duration: 10 * time.Second,
		Timeout:  5 * time.Second,
	}
}

var testLimits = Limits{MaxRate: 100, MaxDuration: time.Minute, MaxWorkers: 500}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Spec)
		limits Limits
	}{
		{"a plain constant spec", func(*Spec) {}, testLimits},
		{"an empty pacer as constant", func(s *Spec) { s.Pacer = "" }, testLimits},
		{"a linear ramp within the cap", func(s *Spec) { s.Pacer, s.Rate, s.RateTo = PacerLinear, 1, 100 }, testLimits},
		{"a ramp down", func(s *Spec) { s.Pacer, s.Rate, s.RateTo = PacerLinear, 100, 10 }, testLimits},
		{"a fractional rate", func(s *Spec) { s.Rate = 0.5 }, testLimits},
		{"rate and duration at their caps", func(s *Spec) { s.Rate, s.Duration = 100, time.Minute }, testLimits},
		{"any rate up to the ceiling when no cap is set", func(s *Spec) { s.Rate = CeilingRate }, Limits{}},
		{"all thresholds set", func(s *Spec) {
			s.Thresholds = Thresholds{P95: time.Second, P99: 2 * time.Second, MinSuccessRatio: 1, MinThroughput: 10}
		}, testLimits},
	}
	for _, tt := range tests {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			s := validSpec()
			tt.change(&s)
			if err := s.Validate(tt.limits); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Spec)
		field  string
		msg    string
	}{
		{"a zero rate", func(s *Spec) { s.Rate = 0 }, "rate", "above 0"},
		{"a negative rate", func(s *Spec) { s.Rate = -1 }, "rate", "above 0"},
		{"a NaN rate", func(s *Spec) { s.Rate = math.NaN() }, "rate", "above 0"},
		{"a rate above the cap", func(s *Spec) { s.Rate = 101 }, "rate", "at most 100"},
		{"an infinite rate", func(s *Spec) { s.Rate = math.Inf(1) }, "rate", "above 0"},
		{"an unknown pacer", func(s *Spec) { s.Pacer = "sine" }, "pacer", `not "sine"`},
		{"a linear ramp without rate_to", func(s *Spec) { s.Pacer = PacerLinear }, "rate_to", "required"},
		{"a linear ramp to above the cap", func(s *Spec) { s.Pacer, s.RateTo = PacerLinear, 1000 }, "rate_to", "at most 100"},
		{"a duration above the cap", func(s *Spec) { s.Duration = time.Hour }, "duration", "at most 1m0s"},
		{"a duration under a second", func(s *Spec) { s.Duration = 500 * time.Millisecond }, "duration", "at least 1s"},
		{"a zero timeout", func(s *Spec) { s.Timeout = 0 }, "timeout", "above 0"},
		{"a negative timeout", func(s *Spec) { s.Timeout = -time.Second }, "timeout", "above 0"},
		{"a timeout above the duration cap", func(s *Spec) { s.Timeout = 2 * time.Minute }, "timeout", "at most"},
		{"workers above the cap", func(s *Spec) { s.MaxWorkers = 501 }, "max_workers", "at most 500"},
		{"a negative body cap", func(s *Spec) { s.MaxBody = -1 }, "max_body", "negative"},
		{"a bad base URL", func(s *Spec) { s.BaseURL = "localhost" }, "base_url", "bad base URL"},
		{"a bad allowed host", func(s *Spec) { s.AllowHosts = []string{"http://x/"} }, "base_url", "bad allowed host"},
		{"bad targets, naming the line", func(s *Spec) { s.Targets = "GET /\nGETT /" }, "targets", `line 2: unknown method "GETT"`},
		{"a negative p95", func(s *Spec) { s.Thresholds.P95 = -1 }, "thresholds.p95", "negative"},
		{"a negative p99", func(s *Spec) { s.Thresholds.P99 = -1 }, "thresholds.p99", "negative"},
		{"a success ratio above 1", func(s *Spec) { s.Thresholds.MinSuccessRatio = 99 }, "thresholds.min_success_ratio", "between 0 and 1"},
		{"a negative throughput", func(s *Spec) { s.Thresholds.MinThroughput = -5 }, "thresholds.min_throughput", "negative"},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			s := validSpec()
			tt.change(&s)
			err := s.Validate(testLimits)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("Msg %q does not contain %q", fe.Msg, tt.msg)
			}
		})
	}
}

func TestValidateReportsEveryBadField(t *testing.T) {
	s := validSpec()
	s.Rate, s.Timeout, s.Targets = 0, 0, "@body"
	err := s.Validate(testLimits)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		fields = append(fields, e.(*FieldError).Field)
	}
	if got, want := strings.Join(fields, ","), "targets,rate,timeout"; got != want {
		t.Errorf("fields = %s, want %s", got, want)
	}
	var te *TargetError
	if !errors.As(err, &te) || te.Line != 1 {
		t.Errorf("errors.As(*TargetError) = %v, want the target error on line 1", te)
	}
}

func TestValidateHoldsTheCeilingWithoutLimits(t *testing.T) {
	s := validSpec()
	s.Rate = CeilingRate * 3
	var fe *FieldError
	if err := s.Validate(Limits{}); !errors.As(err, &fe) || fe.Field != "rate" {
		t.Errorf("Validate = %v, want a rate error", err)
	}
}
