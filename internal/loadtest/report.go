package loadtest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Verdicts.
const (
	// VerdictPass means every check passed.
	VerdictPass = "pass"
	// VerdictFail means at least one check failed.
	VerdictFail = "fail"
)

// Report is the result of a load test: Vegeta's metrics, a latency
// histogram, the per-second series and the verdict.
type Report struct {
	// Requests is the number of completed requests.
	Requests uint64 `json:"requests"`
	// Rate is the rate requests were sent at, per second.
	Rate float64 `json:"rate"`
	// Throughput is the rate of successful responses, per second.
	Throughput float64 `json:"throughput"`
	// Success is the share of 2xx/3xx responses, 0..1.
	Success float64 `json:"success"`
	// Latencies summarizes request latency.
	Latencies Latencies `json:"latencies"`
	// BytesIn is the total of response body bytes read (each capped by MaxBody).
	BytesIn uint64 `json:"bytes_in"`
	// BytesOut is the total of request body bytes sent.
	BytesOut uint64 `json:"bytes_out"`
	// StatusCodes counts responses by status code; "0" counts requests that
	// got no response.
	StatusCodes map[string]int `json:"status_codes"`
	// Errors lists distinct errors in order of first appearance, at most
	// MaxErrors of them, each cut to MaxErrorLen bytes.
	Errors []string `json:"errors"`
	// Histogram is the latency histogram.
	Histogram []Bucket `json:"histogram"`
	// Windows is the per-second series, as pushed live.
	Windows []Window `json:"windows"`
	// Verdict is VerdictPass or VerdictFail.
	Verdict string `json:"verdict"`
	// Checks are the conditions the verdict was decided by.
	Checks []Check `json:"checks"`
	// Duration is how long the attack ran, from the first request to the last
	// response.
	Duration time.Duration `json:"duration"`
	// Canceled is set when the run was canceled before Duration elapsed.
	Canceled bool `json:"canceled"`
	// Targets breaks requests and errors down per target, in the order of
	// the spec. Reports stored before it existed decode with it nil.
	Targets []TargetStats `json:"targets"`
}

// Latencies summarizes request latency: the extremes, the mean and
// percentiles estimated by Vegeta's t-digest.
type Latencies struct {
	Min  time.Duration `json:"min"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P95  time.Duration `json:"p95"`
	P99  time.Duration `json:"p99"`
	Max  time.Duration `json:"max"`
}

// Bucket is one bar of the latency histogram: Count requests took at least
// From and less than To. The last bucket is open-ended and has To == 0.
type Bucket struct {
	From  time.Duration `json:"from"`
	To    time.Duration `json:"to"`
	Count uint64        `json:"count"`
}

// Window is one second of a running load test. Second counts from 0: window
// 0 holds the responses completed during the first second.
type Window struct {
	Second int `json:"second"`
	// Requests counts responses (and failures) completed in the window.
	Requests int `json:"requests"`
	// Successes counts the 2xx/3xx ones among them.
	Successes int `json:"successes"`
	// Throughput is successful responses per second in this window.
	Throughput float64 `json:"throughput"`
	// P50, P95 and P99 are latency percentiles of the window's requests.
	P50 time.Duration `json:"p50"`
	P95 time.Duration `json:"p95"`
	P99 time.Duration `json:"p99"`
}

// Check is one condition of the verdict, with what was wanted and what was
// measured, both formatted for people.
type Check struct {
	// Name is one of the Check* constants.
	Name string `json:"name"`
	// Want is the condition, e.g. "<= 200.00 ms".
	Want string `json:"want"`
	// Got is the measured value, e.g. "153.20 ms".
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// Check names, in the order checks appear in a report. The first three are
// always present; the others only when their threshold is set.
const (
	CheckRequests     = "requests"
	CheckSuccesses    = "successes"
	CheckCompleted    = "completed"
	CheckP95          = "p95"
	CheckP99          = "p99"
	CheckSuccessRatio = "success_ratio"
	CheckThroughput   = "throughput"
)

// judge fills r.Checks and r.Verdict. A run without samples, without a single
// success, or canceled never passes, whatever the thresholds.
func judge(r *Report, t Thresholds) {
	successes := uint64(math.Round(r.Success * float64(r.Requests)))
	r.Checks = []Check{
		{Name: CheckRequests, Want: "> 0", Got: strconv.FormatUint(r.Requests, 10), Pass: r.Requests > 0},
		{Name: CheckSuccesses, Want: "> 0", Got: strconv.FormatUint(successes, 10), Pass: successes > 0},
	}
	completed := Check{Name: CheckCompleted, Want: "full duration", Got: "full duration", Pass: !r.Canceled}
	if r.Canceled {
		completed.Got = "canceled"
	}
	r.Checks = append(r.Checks, completed)
	if t.P95 > 0 {
		r.Checks = append(r.Checks, Check{Name: CheckP95, Want: "<= " + fmtMillis(t.P95), Got: fmtMillis(r.Latencies.P95), Pass: r.Latencies.P95 <= t.P95})
	}
	if t.P99 > 0 {
		r.Checks = append(r.Checks, Check{Name: CheckP99, Want: "<= " + fmtMillis(t.P99), Got: fmtMillis(r.Latencies.P99), Pass: r.Latencies.P99 <= t.P99})
	}
	if t.MinSuccessRatio > 0 {
		r.Checks = append(r.Checks, Check{Name: CheckSuccessRatio, Want: ">= " + fmtPercent(t.MinSuccessRatio), Got: fmtPercent(r.Success), Pass: r.Success >= t.MinSuccessRatio})
	}
	if t.MinThroughput > 0 {
		r.Checks = append(r.Checks, Check{Name: CheckThroughput, Want: fmt.Sprintf(">= %.2f req/s", t.MinThroughput), Got: fmt.Sprintf("%.2f req/s", r.Throughput), Pass: r.Throughput >= t.MinThroughput})
	}
	r.Verdict = VerdictPass
	for _, c := range r.Checks {
		if !c.Pass {
			r.Verdict = VerdictFail
		}
	}
}

func fmtMillis(d time.Duration) string { return strconv.FormatFloat(ms(d), 'f', 2, 64) + " ms" }

func fmtPercent(f float64) string { return strconv.FormatFloat(f*100, 'f', 2, 64) + "%" }

// ms converts a duration to floating-point milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// millis is a duration that encodes in JSON as floating-point milliseconds.
type millis time.Duration

// MarshalJSON encodes d as milliseconds.
func (d millis) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, ms(time.Duration(d)), 'f', -1, 64), nil
}

// UnmarshalJSON decodes milliseconds, rounded to the nanosecond.
func (d *millis) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("loadtest: duration in milliseconds: %w", err)
	}
	*d = millis(math.Round(f * float64(time.Millisecond)))
	return nil
}

// The JSON shapes below mirror their types with durations as millis. The
// outer field shadows the embedded one of the same name.

type windowJSON struct {
	Second     int     `json:"second"`
	Requests   int     `json:"requests"`
	Successes  int     `json:"successes"`
	Throughput float64 `json:"throughput"`
	P50        millis  `json:"p50"`
	P95        millis  `json:"p95"`
	P99        millis  `json:"p99"`
}

// MarshalJSON encodes w with latencies in milliseconds.
func (w Window) MarshalJSON() ([]byte, error) {
	return json.Marshal(windowJSON{w.Second, w.Requests, w.Successes, w.Throughput, millis(w.P50), millis(w.P95), millis(w.P99)})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (w *Window) UnmarshalJSON(b []byte) error {
	var j windowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*w = Window{j.Second, j.Requests, j.Successes, j.Throughput, time.Duration(j.P50), time.Duration(j.P95), time.Duration(j.P99)}
	return nil
}

type latenciesJSON struct {
	Min  millis `json:"min"`
	Mean millis `json:"mean"`
	P50  millis `json:"p50"`
	P90  millis `json:"p90"`
	P95  millis `json:"p95"`
	P99  millis `json:"p99"`
	Max  millis `json:"max"`
}

// MarshalJSON encodes l in milliseconds.
func (l Latencies) MarshalJSON() ([]byte, error) {
	return json.Marshal(latenciesJSON{millis(l.Min), millis(l.Mean), millis(l.P50), millis(l.P90), millis(l.P95), millis(l.P99), millis(l.Max)})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (l *Latencies) UnmarshalJSON(b []byte) error {
	var j latenciesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = Latencies{time.Duration(j.Min), time.Duration(j.Mean), time.Duration(j.P50), time.Duration(j.P90), time.Duration(j.P95), time.Duration(j.P99), time.Duration(j.Max)}
	return nil
}

type bucketJSON struct {
	From  millis `json:"from"`
	To    millis `json:"to"`
	Count uint64 `json:"count"`
}

// MarshalJSON encodes b with bounds in milliseconds.
func (b Bucket) MarshalJSON() ([]byte, error) {
	return json.Marshal(bucketJSON{millis(b.From), millis(b.To), b.Count})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (b *Bucket) UnmarshalJSON(data []byte) error {
	var j bucketJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = Bucket{time.Duration(j.From), time.Duration(j.To), j.Count}
	return nil
}

// reportFields is Report without its methods, so that encoding it does not
// recurse into Report.MarshalJSON.
type reportFields Report

type reportJSON struct {
	reportFields
	Duration millis `json:"duration"`
}

// MarshalJSON encodes r with durations in milliseconds.
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{reportFields(r), millis(r.Duration)})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Report(j.reportFields)
	r.Duration = time.Duration(j.Duration)
	return nil
}
