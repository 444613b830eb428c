package loadtest

import "time"

// Delta compares one metric of two reports, A and B.
type Delta struct {
	// Metric names the metric: "requests", "rate", "throughput", "success",
	// "latency_mean", "latency_p50", …
	Metric string `json:"metric"`
	// Unit is what A, B and Abs are in: "", "req/s", "%" or "ms".
	Unit string `json:"unit"`
	// A and B are the metric's values in each report.
	A float64 `json:"a"`
	B float64 `json:"b"`
	// Abs is B - A.
	Abs float64 `json:"abs"`
	// Rel is (B - A) / A, a fraction; it is 0 and HasRel false when A is 0
	// (JSON has no infinity).
	Rel    float64 `json:"rel"`
	HasRel bool    `json:"has_rel"`
	// LowerIsBetter says which direction of change is an improvement.
	LowerIsBetter bool `json:"lower_is_better"`
}

// Compare puts the key metrics of a and b side by side, in a fixed order. It
// returns nil if either report is nil.
func Compare(a, b *Report) []Delta {
	if a == nil || b == nil {
		return nil
	}
	type metric struct {
		name, unit string
		lower      bool
		get        func(*Report) float64
	}
	lat := func(f func(Latencies) time.Duration) func(*Report) float64 {
		return func(r *Report) float64 { return ms(f(r.Latencies)) }
	}
	metrics := []metric{
		{"requests", "", false, func(r *Report) float64 { return float64(r.Requests) }},
		{"rate", "req/s", false, func(r *Report) float64 { return r.Rate }},
		{"throughput", "req/s", false, func(r *Report) float64 { return r.Throughput }},
		{"success", "%", false, func(r *Report) float64 { return r.Success * 100 }},
		{"latency_mean", "ms", true, lat(func(l Latencies) time.Duration { return l.Mean })},
		{"latency_p50", "ms", true, lat(func(l Latencies) time.Duration { return l.P50 })},
		{"latency_p90", "ms", true, lat(func(l Latencies) time.Duration { return l.P90 })},
		{"latency_p95", "ms", true, lat(func(l Latencies) time.Duration { return l.P95 })},
		{"latency_p99", "ms", true, lat(func(l Latencies) time.Duration { return l.P99 })},
		{"latency_max", "ms", true, lat(func(l Latencies) time.Duration { return l.Max })},
	}
	out := make([]Delta, 0, len(metrics))
	for _, m := range metrics {
		d := Delta{Metric: m.name, Unit: m.unit, A: m.get(a), B: m.get(b), LowerIsBetter: m.lower}
		d.Abs = d.B - d.A
		if d.A != 0 {
			d.Rel, d.HasRel = d.Abs/d.A, true
		}
		out = append(out, d)
	}
	return out
}
