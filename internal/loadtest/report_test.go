package loadtest

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	healthy := Report{
		Requests: 100, Success: 0.98, Throughput: 49,
		Latencies: Latencies{P95: 80 * time.Millisecond, P99: 150 * time.Millisecond},
	}
	tests := []struct {
		name    string
		change  func(*Report)
		th      Thresholds
		verdict string
		failing []string
	}{
		{"passes with no thresholds set", func(*Report) {}, Thresholds{}, VerdictPass, nil},
		{"passes at exactly every threshold", func(*Report) {},
			Thresholds{P95: 80 * time.Millisecond, P99: 150 * time.Millisecond, MinSuccessRatio: 0.98, MinThroughput: 49}, VerdictPass, nil},
		{"fails with no samples even without thresholds", func(r *Report) { *r = Report{} }, Thresholds{}, VerdictFail, []string{CheckRequests, CheckSuccesses}},
		{"fails with errors only even when latency thresholds hold", func(r *Report) { r.Success, r.Throughput = 0, 0 },
			Thresholds{P95: time.Second}, VerdictFail, []string{CheckSuccesses}},
		{"fails when canceled", func(r *Report) { r.Canceled = true }, Thresholds{}, VerdictFail, []string{CheckCompleted}},
		{"fails on p95 alone", func(*Report) {}, Thresholds{P95: 79 * time.Millisecond, P99: time.Second}, VerdictFail, []string{CheckP95}},
		{"fails on p99 alone", func(*Report) {}, Thresholds{P95: time.Second, P99: 149 * time.Millisecond}, VerdictFail, []string{CheckP99}},
		{"fails on the success ratio", func(*Report) {}, Thresholds{MinSuccessRatio: 0.99}, VerdictFail, []string{CheckSuccessRatio}},
		{"fails on throughput", func(*Report) {}, Thresholds{MinThroughput: 50}, VerdictFail, []string{CheckThroughput}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy
			tt.change(&r)
			judge(&r, tt.th)
			if r.Verdict != tt.verdict {
				t.Errorf("Verdict = %q, want %q; checks %+v", r.Verdict, tt.verdict, r.Checks)
			}
			var failing []string
			for _, c := range r.Checks {
				if !c.Pass {
					failing = append(failing, c.Name)
				}
			}
			if !slices.Equal(failing, tt.failing) {
				t.Errorf("failing checks = %v, want %v", failing, tt.failing)
			}
		})
	}
}

func TestJudgeExplainsChecks(t *testing.T) {
	r := Report{Requests: 10, Success: 0.5, Throughput: 2.5, Latencies: Latencies{P95: 1500 * time.Microsecond}}
	judge(&r, Thresholds{P95: time.Millisecond, MinSuccessRatio: 0.9, MinThroughput: 3})
	want := map[string][2]string{
		CheckP95:          {"<= 1.00 ms", "1.50 ms"},
		CheckSuccessRatio: {">= 90.00%", "50.00%"},
		CheckThroughput:   {">= 3.00 req/s", "2.50 req/s"},
		CheckSuccesses:    {"> 0", "5"},
	}
	for name, wg := range want {
		c, ok := check(&r, name)
		if !ok || c.Want != wg[0] || c.Got != wg[1] {
			t.Errorf("check %s = %+v, want Want %q Got %q", name, c, wg[0], wg[1])
		}
	}
}

func TestReportJSON(t *testing.T) {
	r := Report{
		Requests: 3, Rate: 1.5, Throughput: 1, Success: 2.0 / 3,
		Latencies:   Latencies{Min: time.Millisecond, Mean: 1500 * time.Microsecond, P50: 2 * time.Millisecond, P90: 3, P95: 4, P99: 5, Max: 6 * time.Second},
		BytesIn:     10,
		BytesOut:    20,
		StatusCodes: map[string]int{"200": 2, "0": 1},
		Errors:      []string{"boom"},
		Histogram:   []Bucket{{From: 0, To: time.Millisecond, Count: 2}, {From: time.Millisecond, Count: 1}},
		Windows:     []Window{{Second: 0, Requests: 3, Successes: 2, Throughput: 2, P50: 1250 * time.Microsecond, P95: 2 * time.Millisecond, P99: 3 * time.Millisecond}},
		Verdict:     VerdictFail,
		Checks:      []Check{{Name: CheckRequests, Want: "> 0", Got: "3", Pass: true}},
		Duration:    2 * time.Second,
		Canceled:    true,
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	for _, frag := range []string{
		`"duration":2000`, `"max":6000}`, `"mean":1.5,`, `"p50":1.25,`, `"second":0,`, `"bytes_in":10`,
		`"status_codes":{"0":1,"200":2}`, `"from":1,"to":0,"count":1`, `"canceled":true`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("JSON %s lacks %s", b, frag)
		}
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", back, r)
	}
}

func TestCompare(t *testing.T) {
	a := &Report{Requests: 100, Rate: 10, Throughput: 9, Success: 0.9, Latencies: Latencies{P95: 200 * time.Millisecond, Max: 0}}
	b := &Report{Requests: 150, Rate: 10, Throughput: 10, Success: 1, Latencies: Latencies{P95: 100 * time.Millisecond, Max: time.Second}}
	ds := Compare(a, b)
	byName := map[string]Delta{}
	for _, d := range ds {
		byName[d.Metric] = d
	}
	tests := []struct {
		name   string
		metric string
		want   Delta
	}{
		{"counts show absolute and relative change", "requests", Delta{Metric: "requests", A: 100, B: 150, Abs: 50, Rel: 0.5, HasRel: true}},
		{"an unchanged metric has zero deltas", "rate", Delta{Metric: "rate", Unit: "req/s", A: 10, B: 10, HasRel: true}},
		{"success is compared in percent", "success", Delta{Metric: "success", Unit: "%", A: 90, B: 100, Abs: 10, Rel: 10.0 / 90, HasRel: true}},
		{"latency is compared in milliseconds, lower being better", "latency_p95", Delta{Metric: "latency_p95", Unit: "ms", A: 200, B: 100, Abs: -100, Rel: -0.5, HasRel: true, LowerIsBetter: true}},
		{"a change from zero has no relative delta", "latency_max", Delta{Metric: "latency_max", Unit: "ms", A: 0, B: 1000, Abs: 1000, LowerIsBetter: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byName[tt.metric]
			if got.Metric != tt.want.Metric || got.Unit != tt.want.Unit || !near(got.A, tt.want.A) || !near(got.B, tt.want.B) ||
				!near(got.Abs, tt.want.Abs) || !near(got.Rel, tt.want.Rel) || got.HasRel != tt.want.HasRel || got.LowerIsBetter != tt.want.LowerIsBetter {
				t.Errorf("Compare %s = %+v, want %+v", tt.metric, got, tt.want)
			}
		})
	}
	if len(ds) != 10 {
		t.Errorf("Compare returned %d deltas, want 10", len(ds))
	}
	if Compare(nil, b) != nil || Compare(a, nil) != nil {
		t.Error("Compare with a nil report is not nil")
	}
	if _, err := json.Marshal(ds); err != nil {
		t.Errorf("deltas do not encode as JSON: %v", err)
	}
}
