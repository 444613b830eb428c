package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Bounds on what a report keeps, so memory stays flat however long the run
// and however creative the target's error messages.
const (
	// MaxErrors is the most distinct errors a Report lists.
	MaxErrors = 20
	// MaxErrorLen is the longest error string a Report keeps, in bytes.
	MaxErrorLen = 300
	// maxRedirects is how many same-host redirects a request follows.
	maxRedirects = 10
	// initialWorkers is how many workers an attack starts with; Vegeta adds
	// more, up to MaxWorkers, when they are all busy.
	initialWorkers = 10
)

// ErrRedirectRefused is the error a request ends with when it is redirected to
// a host the spec does not allow.
var ErrRedirectRefused = errors.New("redirect to a host that is not allowed")

// histogramBuckets are the lower bounds of the report's latency histogram.
var histogramBuckets = []time.Duration{
	0, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
}

// Run attacks the spec's targets until Duration elapses or ctx is done, and
// returns the report. It validates s without admin limits first (callers
// check those with Validate); an invalid spec is the only error.
//
// onWindow, if not nil, is called once per second with the window just
// closed, and once more at the end for a last partial window holding
// responses. It runs on the collecting goroutine: it must be quick, or it
// slows the attack down.
//
// When ctx is done, Run stops sending, aborts requests in flight and returns
// at once with the partial report, Canceled set and verdict fail; the error is
// nil. A target that cannot be reached is no error either: the run completes
// with the failures counted and verdict fail.
//
// Memory is bounded: each result is folded into the totals (Vegeta's
// t-digest metrics and a fixed histogram) and the current window's digest,
// and dropped.
func Run(ctx context.Context, s Spec, onWindow func(Window)) (*Report, error) {
	if err := s.Validate(Limits{}); err != nil {
		return nil, fmt.Errorf("loadtest: run: %w", err)
	}
	tgts, err := ParseTargets(s.BaseURL, s.Targets, s.AllowHosts)
	if err != nil {
		return nil, fmt.Errorf("loadtest: run: %w", err) // unreachable after Validate
	}
	pol, err := newHostPolicy(s.BaseURL, s.AllowHosts)
	if err != nil {
		return nil, fmt.Errorf("loadtest: run: %w", err) // unreachable after Validate
	}
	if onWindow == nil {
		onWindow = func(Window) {}
	}

	vtgts := make([]vegeta.Target, len(tgts))
	for i, t := range tgts {
		vtgts[i] = vegeta.Target{Method: t.Method, URL: t.URL, Header: t.Header, Body: t.Body}
	}

	transport := &http.Transport{
		Proxy:               nil, // straight to the environment, never via a proxy from the worker's env
		DialContext:         (&net.Dialer{Timeout: s.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: int(min(s.maxWorkers(), math.MaxInt32)),
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Timeout:   s.Timeout,
		Transport: cancelTransport{ctx: ctx, rt: transport},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// Checked on every hop: a target on the right host must not be
			// able to bounce the attack onto another one.
			if !pol.allows(req.URL) {
				return fmt.Errorf("%w: %s", ErrRedirectRefused, req.URL.Host)
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
	// Only options that leave the client alone: the others assume Vegeta's
	// own *http.Transport, which cancelTransport replaces.
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(min(initialWorkers, s.maxWorkers())),
		vegeta.MaxWorkers(s.maxWorkers()),
		vegeta.MaxBody(s.maxBody()),
	)

	c := newCollector(time.Now(), tgts)
	results := atk.Attack(vegeta.NewStaticTargeter(vtgts...), pacer(s), s.Duration, "")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	canceled := false
collect:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break collect
			}
			c.add(r)
		case now := <-tick.C:
			onWindow(c.closeWindow(now))
		case <-ctx.Done():
			// Requests in flight fail at once (cancelTransport). The attack
			// may still be asleep in its pacer for up to one interval, so
			// drain it in the background rather than wait: the goroutine ends
			// as soon as Vegeta closes the channel. Those last results are
			// artifacts of canceling and are not counted.
			atk.Stop()
			go func() {
				for range results {
				}
			}()
			canceled = true
			break collect
		}
	}
	if w, ok := c.lastWindow(time.Now()); ok {
		onWindow(w)
	}
	rep := c.report()
	rep.Canceled = canceled
	judge(rep, s.Thresholds)
	return rep, nil
}

// pacer returns the Vegeta pacer for the spec.
func pacer(s Spec) vegeta.Pacer {
	start := constantPacer(s.Rate)
	if s.pacer() == PacerLinear {
		return vegeta.LinearPacer{StartAt: start, Slope: (s.RateTo - s.Rate) / s.Duration.Seconds()}
	}
	return start
}

// constantPacer expresses a float rate in Vegeta's integer hits per period:
// whole rates exactly per second, others as one hit per interval.
func constantPacer(rate float64) vegeta.ConstantPacer {
	if rate == math.Trunc(rate) && rate <= math.MaxInt32 {
		return vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	}
	return vegeta.ConstantPacer{Freq: 1, Per: time.Duration(math.Round(float64(time.Second) / rate))}
}

// cancelTransport ties every request to the run's context as well as its own
// (which carries the client timeout), so canceling the run aborts requests in
// flight instead of waiting out their timeout. Vegeta builds requests without
// a context, so this is the only place to attach one.
type cancelTransport struct {
	ctx context.Context
	rt  http.RoundTripper
}

// RoundTrip sends req, aborted when either context is done.
func (t cancelTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	release := func() { stop(); cancel() }
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	// The body is read after RoundTrip returns: release on Close, not now.
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releaseBody calls release once the body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
}

// Close closes the body and releases its context.
func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// collector folds results into the totals and the current window.
type collector struct {
	total  vegeta.Metrics // includes a fixed-bucket histogram
	errors []string
	seen   map[string]bool

	windows    []Window
	win        Window // the open window
	winStart   time.Time
	winLatency vegeta.LatencyMetrics // t-digest of the open window

	targets  []*targetCounts          // in the order of the spec
	byTarget map[string]*targetCounts // by targetKey
}

// newCollector returns a collector whose first window opens at start,
// counting results per target of tgts.
func newCollector(start time.Time, tgts []Target) *collector {
	c := &collector{winStart: start, seen: map[string]bool{}, byTarget: map[string]*targetCounts{}}
	c.total.Histogram = &vegeta.Histogram{Buckets: histogramBuckets}
	for _, t := range tgts {
		k := targetKey(t.Method, t.URL)
		if c.byTarget[k] != nil {
			continue // the same request twice (other headers or body): one row
		}
		tc := newTargetCounts(t.Method, t.URL)
		c.byTarget[k] = tc
		c.targets = append(c.targets, tc)
	}
	return c
}

// add folds one result in.
func (c *collector) add(r *vegeta.Result) {
	if tc := c.byTarget[targetKey(r.Method, r.URL)]; tc != nil {
		tc.add(r)
	}
	if r.Error != "" {
		c.addError(r.Error)
		// Vegeta's Metrics keeps every distinct error forever; ours are
		// bounded in addError, so keep them out of it.
		r.Error = ""
	}
	c.total.Add(r)
	if r.Code >= 200 && r.Code < 400 { // Vegeta's definition of success
		c.win.Successes++
	}
	c.win.Requests++
	c.winLatency.Add(r.Latency)
}

// addError records a distinct error, within MaxErrors and MaxErrorLen.
func (c *collector) addError(e string) {
	if len(e) > MaxErrorLen {
		e = strings.ToValidUTF8(e[:MaxErrorLen], "")
	}
	if len(c.errors) >= MaxErrors || c.seen[e] {
		return
	}
	c.seen[e] = true
	c.errors = append(c.errors, e)
}

// closeWindow ends the current window at now and starts the next.
func (c *collector) closeWindow(now time.Time) Window {
	w := c.win
	// At least a second: the last window of a run is cut short, but nothing
	// more completes in its second, and dividing by a sliver of time would
	// draw a spike.
	w.Throughput = float64(w.Successes) / max(now.Sub(c.winStart).Seconds(), 1)
	if w.Requests > 0 {
		w.P50 = c.winLatency.Quantile(0.50)
		w.P95 = c.winLatency.Quantile(0.95)
		w.P99 = c.winLatency.Quantile(0.99)
	}
	c.windows = append(c.windows, w)
	c.win = Window{Second: w.Second + 1}
	c.winStart = now
	c.winLatency = vegeta.LatencyMetrics{}
	return w
}

// lastWindow closes the partial window at the end of a run, if it holds any
// responses.
func (c *collector) lastWindow(now time.Time) (Window, bool) {
	if c.win.Requests == 0 {
		return Window{}, false
	}
	return c.closeWindow(now), true
}

// report builds the report from the totals.
func (c *collector) report() *Report {
	m := &c.total
	m.Close()
	rep := &Report{
		Requests:   m.Requests,
		Rate:       m.Rate,
		Throughput: m.Throughput,
		Success:    m.Success,
		Latencies: Latencies{
			Min: m.Latencies.Min, Mean: m.Latencies.Mean, Max: m.Latencies.Max,
			P50: m.Latencies.P50, P90: m.Latencies.P90, P95: m.Latencies.P95, P99: m.Latencies.P99,
		},
		BytesIn:     m.BytesIn.Total,
		BytesOut:    m.BytesOut.Total,
		StatusCodes: m.StatusCodes,
		Errors:      c.errors,
		Windows:     c.windows,
		Duration:    m.Duration + m.Wait,
		Targets:     make([]TargetStats, 0, len(c.targets)),
	}
	for _, tc := range c.targets {
		rep.Targets = append(rep.Targets, tc.stats())
	}
	if rep.Errors == nil {
		rep.Errors = []string{}
	}
	if rep.Windows == nil {
		rep.Windows = []Window{}
	}
	h := m.Histogram
	for i, from := range h.Buckets {
		b := Bucket{From: from}
		if i+1 < len(h.Buckets) {
			b.To = h.Buckets[i+1]
		}
		if i < len(h.Counts) {
			b.Count = h.Counts[i]
		}
		rep.Histogram = append(rep.Histogram, b)
	}
	return rep
}
