package loadtest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Bounds on the per-target breakdown of a report.
const (
	// MaxTargetErrors is the most error messages a TargetStats lists, the
	// most frequent first.
	MaxTargetErrors = 5
	// maxTargetDistinct is how many distinct messages a target counts
	// during a run, OtherErrors included: once full, new ones count as
	// OtherErrors.
	maxTargetDistinct = 100
)

// OtherErrors is the message that stands for errors beyond the distinct
// messages a target counts separately.
const OtherErrors = "(other errors)"

// TargetStats is the breakdown of one target's results. Targets that send
// the same method to the same URL (with other headers or bodies) share one.
type TargetStats struct {
	// Method and URL name the target.
	Method string `json:"method"`
	URL    string `json:"url"`
	// Requests counts completed requests to the target.
	Requests uint64 `json:"requests"`
	// Errors counts those that failed: no response, or a status outside
	// 2xx/3xx (Vegeta's definition of success).
	Errors uint64 `json:"errors"`
	// StatusCodes counts responses by status code; "0" counts requests
	// that got no response.
	StatusCodes map[string]int `json:"status_codes"`
	// TopErrors are the most frequent error messages, at most
	// MaxTargetErrors, most frequent first.
	TopErrors []ErrorCount `json:"top_errors"`
}

// ErrorCount is one error message and how often a target ended with it.
type ErrorCount struct {
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// targetCounts accumulates one target's results during a run.
type targetCounts struct {
	method, url string
	requests    uint64
	errors      uint64
	codes       map[string]int
	messages    map[string]uint64
}

func newTargetCounts(method, url string) *targetCounts {
	return &targetCounts{method: method, url: url, codes: map[string]int{}, messages: map[string]uint64{}}
}

// targetKey identifies a target in results, which carry its method and URL.
func targetKey(method, url string) string { return method + " " + url }

// add counts one result; it must run before the collector clears r.Error.
func (t *targetCounts) add(r *vegeta.Result) {
	t.requests++
	t.codes[strconv.Itoa(int(r.Code))]++
	if r.Code >= 200 && r.Code < 400 && r.Error == "" {
		return
	}
	t.errors++
	msg := r.Error
	if msg == "" {
		msg = strconv.Itoa(int(r.Code))
	}
	if len(msg) > MaxErrorLen {
		msg = strings.ToValidUTF8(msg[:MaxErrorLen], "")
	}
	if _, ok := t.messages[msg]; !ok && len(t.messages) >= maxTargetDistinct-1 {
		msg = OtherErrors
	}
	t.messages[msg]++
}

// stats returns the target's breakdown.
func (t *targetCounts) stats() TargetStats {
	s := TargetStats{Method: t.method, URL: t.url, Requests: t.requests, Errors: t.errors, StatusCodes: t.codes, TopErrors: []ErrorCount{}}
	for m, n := range t.messages {
		s.TopErrors = append(s.TopErrors, ErrorCount{Message: m, Count: n})
	}
	slices.SortFunc(s.TopErrors, func(a, b ErrorCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	if len(s.TopErrors) > MaxTargetErrors {
		s.TopErrors = s.TopErrors[:MaxTargetErrors]
	}
	return s
}
