package handlers

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/models"
)

const (
	// instanceScrapeQuery bounds the store query of a scrape.
	instanceScrapeQuery = 5 * time.Second
	// instanceScrapeBudget bounds how long a scrape keeps asking the
	// engine: an edge that answers slowly must not make every scrape (and
	// the scrapes piling up behind it) take minutes. Environments left are
	// skipped and the scrape says so in the log.
	instanceScrapeBudget = 5 * time.Second
)

// instanceCollector exports the app instances of every process
// environment, read from the deploy engine at scrape time: one store query
// and one Status call per environment a scrape, nothing kept between
// scrapes and no goroutine of its own.
type instanceCollector struct {
	store  *models.Store
	engine deploy.Engine
	log    *slog.Logger

	requests, errors, restarts, inFlight, up *prometheus.Desc
	desired, serving                         *prometheus.Desc
}

func newInstanceCollector(store *models.Store, engine deploy.Engine, log *slog.Logger) *instanceCollector {
	inst := []string{"project", "environment", "release", "slot"}
	env := []string{"project", "environment"}
	return &instanceCollector{store: store, engine: engine, log: log,
		requests: prometheus.NewDesc("slipway_instance_requests_total",
			"Requests the edge sent to the app instance.", inst, nil),
		errors: prometheus.NewDesc("slipway_instance_errors_total",
			"Requests to the app instance that failed: no answer, or a 5xx.", inst, nil),
		restarts: prometheus.NewDesc("slipway_instance_restarts_total",
			"Restarts of the app instance after crashes.", inst, nil),
		inFlight: prometheus.NewDesc("slipway_instance_in_flight",
			"Requests the edge is proxying to the app instance now.", inst, nil),
		up: prometheus.NewDesc("slipway_instance_up",
			"1 when the edge may send requests to the app instance (healthy and in the live pool), else 0.", inst, nil),
		desired: prometheus.NewDesc("slipway_environment_instances_desired",
			"Instances the environment should run: its setting, else what the last deploy or scale asked for.", env, nil),
		serving: prometheus.NewDesc("slipway_environment_instances_serving",
			"Instances of the live pool the edge sends requests to.", env, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.errors, c.restarts, c.inFlight, c.up, c.desired, c.serving} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A store error leaves the
// instance metrics out of this scrape (the portal's own metrics still
// answer) and is logged.
func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), instanceScrapeQuery)
	defer cancel()
	envs, err := c.store.AllEnvironments(ctx)
	if err != nil {
		c.log.Warn("metrics: instances left out of the scrape", slog.Any("err", err))
		return
	}
	start := time.Now()
	for i := range envs {
		e := &envs[i]
		if e.Target != models.TargetProcess {
			continue
		}
		if time.Since(start) > instanceScrapeBudget {
			c.log.Warn("metrics: the deploy engine answers slowly; environments left out of the scrape",
				slog.Int("environments", len(envs)-i))
			return
		}
		c.collectEnv(ch, e, c.engine.Status(e.EngineKey()))
	}
}

// collectEnv sends the metrics of one environment's status.
func (c *instanceCollector) collectEnv(ch chan<- prometheus.Metric, e *models.Environment, st deploy.EnvStatus) {
	project, name := e.Project.Slug, e.Name
	desired := st.Desired
	if e.Instances > 0 {
		desired = e.Instances // the saved setting, as the environment page shows it
	}
	serving := 0
	// An instance is one series; the same release and slot could show up
	// twice in a snapshot taken mid-rollout (a pool of the live release
	// starting again), and a duplicate series would fail the whole scrape.
	type key struct {
		rel  int64
		slot int
	}
	seen := map[key]bool{}
	send := func(s deploy.InstanceStatus, live bool) {
		k := key{s.ReleaseID, s.Slot}
		if seen[k] {
			return
		}
		seen[k] = true
		up := 0.0
		if s.Routable && live {
			up = 1
			serving++
		}
		lv := []string{project, name, strconv.FormatInt(s.ReleaseID, 10), strconv.Itoa(s.Slot)}
		c.send(ch, c.requests, prometheus.CounterValue, float64(s.Requests), lv)
		c.send(ch, c.errors, prometheus.CounterValue, float64(s.Errors), lv)
		c.send(ch, c.restarts, prometheus.CounterValue, float64(s.Restarts), lv)
		c.send(ch, c.inFlight, prometheus.GaugeValue, float64(s.InFlight), lv)
		c.send(ch, c.up, prometheus.GaugeValue, up, lv)
	}
	for _, s := range st.Pool {
		send(s, true)
	}
	for _, s := range st.Warm {
		send(s, false)
	}
	for _, s := range st.Other {
		send(s, false)
	}
	c.send(ch, c.desired, prometheus.GaugeValue, float64(desired), []string{project, name})
	c.send(ch, c.serving, prometheus.GaugeValue, float64(serving), []string{project, name})
}

// send sends one sample. A label value the exposition format cannot carry
// (not UTF-8) leaves that sample out: MustNewConstMetric would panic in
// the registry's gathering goroutine, where nothing recovers it.
func (c *instanceCollector) send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, lv []string) {
	m, err := prometheus.NewConstMetric(d, t, v, lv...)
	if err != nil {
		c.log.Warn("metrics: sample left out", slog.Any("err", err))
		return
	}
	ch <- m
}
