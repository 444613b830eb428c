package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway-ci/slipway/internal/auth"
)

// httpMetrics counts requests and their latency by route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reg      *prometheus.Registry
	handler  echo.HandlerFunc
	// signedIn also serves the metrics that name projects and
	// environments, to a scraper that signs in (a session or an API
	// token of a role that may view projects); nil when there are none.
	signedIn echo.HandlerFunc
	// routes are the registered route patterns, the only route labels.
	routesOnce sync.Once
	routes     map[string]bool
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg = reg
	m.handler = echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

// addSignedIn registers collectors whose metrics only a signed-in scraper
// gets: their labels name projects and environments.
func (m *httpMetrics) addSignedIn(cs ...prometheus.Collector) {
	private := prometheus.NewRegistry()
	private.MustRegister(cs...)
	m.signedIn = echo.WrapHandler(promhttp.HandlerFor(prometheus.Gatherers{m.reg, private}, promhttp.HandlerOpts{}))
}

// middleware records each request under its route pattern (never the raw
// path, which would let clients create unbounded label values).
func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			} else if !c.Response().Committed {
				status = 500
			}
		}
		method, route := metricMethod(c.Request().Method), m.metricRoute(c)
		m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return err
	}
}

// serveMetrics answers anyone with the portal's own metrics, and a
// scraper signed in with a role that may view projects (Prometheus:
// authorization with an API token) with the instances' too.
func (h *Handler) serveMetrics(c echo.Context) error {
	if h.metrics.signedIn != nil && auth.Can(roleOf(currentUser(c)), auth.ViewProjects) {
		return h.metrics.signedIn(c)
	}
	return h.metrics.handler(c)
}

// metricMethod keeps the standard methods and folds every other one into
// "OTHER": the method is whatever a client typed.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// metricRoute is the pattern of the route that answered: a registered one,
// or "unmatched" for the catch-all, a method the route does not take (Echo
// then reports the raw path) and anything else that is not a pattern.
func (m *httpMetrics) metricRoute(c echo.Context) string {
	p := c.Path()
	if p == "" || p == "/*" {
		return "unmatched"
	}
	// Routes are all registered before the first request is served.
	m.routesOnce.Do(func() {
		m.routes = map[string]bool{}
		for _, r := range c.Echo().Routes() {
			m.routes[r.Path] = true
		}
	})
	if !m.routes[p] {
		return "unmatched"
	}
	return p
}
