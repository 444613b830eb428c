package handlers

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// series returns the request metrics' series lines from /metrics.
func (ts *testServer) series() []string {
	ts.t.Helper()
	resp, body := ts.do(http.MethodGet, "/metrics", reqOpts{})
	if resp.StatusCode != http.StatusOK {
		ts.t.Fatalf("metrics: %d", resp.StatusCode)
	}
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "slipway_http_requests_total{") || strings.HasPrefix(l, "slipway_http_request_duration_seconds_count{") {
			out = append(out, l)
		}
	}
	return out
}

// Arbitrary methods and paths, as anyone on the network can send them,
// must not add a series each: the metrics would grow without bound.
func TestMetricsStayBoundedUnderRandomMethodsAndPaths(t *testing.T) {
	ts := newTestServer(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string) {
		req, err := http.NewRequest(method, ts.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Warm up: the series known routes legitimately make.
	for _, p := range []string{"/login", "/healthz", "/nope", "/builds/1", "/api/v1/nope"} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodHead} {
			send(m, p)
		}
	}
	before := len(ts.series())
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodHead}
	for i := range 1000 {
		method := methods[rand.IntN(len(methods))]
		if i%2 == 0 {
			method = fmt.Sprintf("M%08X", rand.Uint32())
		}
		prefix := []string{"/", "/api/v1/", "/builds/", "/static/", "/projects/x/environments/", "/hooks/"}[rand.IntN(6)]
		send(method, fmt.Sprintf("%s%x/%x", prefix, rand.Uint64(), rand.Uint32()))
	}
	after := len(ts.series())
	// Two metrics, a handful of methods (plus OTHER), the routes the random
	// paths can match and their statuses: a few dozen at most.
	if grown := after - before; grown > 100 {
		t.Fatalf("1,000 random requests added %d series (from %d to %d); want a bounded number", grown, before, after)
	}
	for _, l := range ts.series() {
		if strings.Contains(l, `method="M`) {
			t.Fatalf("a client-chosen method became a label value: %s", l)
		}
	}
}
