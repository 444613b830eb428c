package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// InstanceSpec says how to run one release of an app in one environment.
type InstanceSpec struct {
	// Env is the environment key, e.g. "proj/dev".
	Env string
	// ReleaseID identifies the release; Warm looks instances up by it.
	ReleaseID int64
	// Dir is the unpacked artifact and the working directory; a relative
	// Dir is resolved against Options.ReleasesDir.
	Dir string
	// Command is run with /bin/sh -c.
	Command string
	// Vars is the app's whole environment besides PATH (which it may
	// override) and PORT, HOST and BIND (which the manager sets and which
	// win: PORT is the port to listen on, HOST and BIND are 127.0.0.1, the
	// address to listen on so that only the edge reaches the app).
	Vars map[string]string
	// Lines splits (and masks) the app's raw output into lines; nil splits
	// it as it comes.
	Lines LineSplitter
	// Slot is the instance's number in its environment's pool, from 1; the
	// app sees it as SLIPWAY_INSTANCE. Zero means 1.
	Slot int
	// HealthPath is requested with GET on the app's port until it answers
	// 2xx (redirects are not followed); empty means "the port accepts
	// connections".
	HealthPath string
}

const (
	probeTimeout     = 2 * time.Second
	probeMinInterval = 25 * time.Millisecond
	probeMaxInterval = 500 * time.Millisecond
	drainPoll        = 10 * time.Millisecond
)

// Instance is a handle on one supervised run of a release: the process (and
// its restarts after crashes), its output, and the proxy the edge uses to
// reach it. Obtain one from StartInstance or Warm.
type Instance struct {
	m         *Manager
	es        *envState
	env       string
	releaseID int64
	dir       string
	command   string
	vars      map[string]string
	health    string
	lines     LineSplitter
	workDir   string // the environment's work dir; "" runs in dir

	slot int
	set  *releaseSet // the release's shared spec and output; nil for StartInstance

	target    atomic.Pointer[url.URL]
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	inflight  atomic.Int64
	out       *ring

	// Read by the edge on every request without a lock.
	routable atomic.Bool // healthy and not down: the edge may pick it
	down     atomic.Bool // taken out by health checks or ejection
	requests atomic.Int64
	errors   atomic.Int64
	rps      atomic.Uint64 // float64 bits, requests per second over the last check interval

	errMu    sync.Mutex
	errTimes []time.Time // the last errors, for passive ejection

	wsMu   sync.Mutex
	ws     map[uint64]context.CancelFunc // open websockets, closed by a drain
	wsNext uint64

	logMu sync.Mutex
	logFn func(string)

	stopCtx  context.Context // done once a stop was requested
	stopReq  context.CancelCauseFunc
	killOnce sync.Once
	killCh   chan struct{} // closed to skip the SIGTERM grace
	done     chan struct{} // closed when the supervisor has finished

	mu        sync.Mutex
	state     State
	pid       int
	port      int
	restarts  int
	startedAt time.Time
	lastExit  *Exit
	procStart uint64 // the process's start time in clock ticks (see ProcessInfo)
	outPath   string // its output FIFO, when detached

	// Guarded by Manager.mu.
	warmUntil time.Time
	warmTimer *time.Timer
	retiring  bool
}

func newInstance(m *Manager, es *envState, spec InstanceSpec, dir string, log func(string)) *Instance {
	i := &Instance{
		m:         m,
		es:        es,
		env:       spec.Env,
		releaseID: spec.ReleaseID,
		dir:       dir,
		command:   spec.Command,
		vars:      maps.Clone(spec.Vars),
		health:    spec.HealthPath,
		lines:     spec.Lines,
		workDir:   m.WorkDir(spec.Env),
		slot:      max(spec.Slot, 1),
		out:       newRing(m.opts.OutputLines),
		logFn:     log,
		killCh:    make(chan struct{}),
		done:      make(chan struct{}),
		state:     StateStarting,
	}
	i.stopCtx, i.stopReq = context.WithCancelCause(context.Background())
	i.transport = &http.Transport{
		Proxy: nil, // apps are on loopback; never route through a proxy from the environment
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: m.opts.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass bodies through as the app sent them
	}
	i.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(i.target.Load())
			pr.Out.Host = pr.In.Host // the app sees the public host name
			pr.SetXForwarded()
			stripPortalCookies(pr.Out.Header)
		},
		ModifyResponse: func(resp *http.Response) error {
			dropPortalSetCookies(resp.Header)
			if resp.StatusCode >= 500 {
				i.failed()
			}
			return nil
		},
		Transport:    i.transport,
		BufferPool:   copyBuffers,
		ErrorHandler: i.proxyError,
		ErrorLog:     slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	return i
}

// Env returns the environment the instance runs in.
func (i *Instance) Env() string { return i.env }

// ReleaseID returns the release the instance runs.
func (i *Instance) ReleaseID() int64 { return i.releaseID }

// Slot returns the instance's number in its pool, from 1.
func (i *Instance) Slot() int { return i.slot }

// Port returns the loopback port of the current process (it changes when a
// crashed process is restarted).
func (i *Instance) Port() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.port
}

// PID returns the pid of the current process, or 0 when none runs.
func (i *Instance) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.pid
}

// State returns the instance's lifecycle state.
func (i *Instance) State() State {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state
}

// Output returns the last lines the instance printed, oldest first.
func (i *Instance) Output() []string { return i.out.snapshot() }

// Status returns a snapshot of the instance (without WarmUntil, which only
// Manager.Status knows).
func (i *Instance) Status() InstanceStatus {
	i.mu.Lock()
	defer i.mu.Unlock()
	health := HealthUp
	if i.down.Load() {
		health = HealthDown
	}
	return InstanceStatus{
		ReleaseID: i.releaseID,
		Slot:      i.slot,
		State:     i.state,
		Health:    health,
		Routable:  i.routable.Load(),
		Requests:  i.requests.Load(),
		Errors:    i.errors.Load(),
		RPS:       math.Float64frombits(i.rps.Load()),
		PID:       i.pid,
		Port:      i.port,
		Restarts:  i.restarts,
		StartedAt: i.startedAt,
		InFlight:  i.inflight.Load(),
		LastExit:  i.lastExit,
	}
}

// SetLog replaces the function that receives each line of output (nil
// keeps the lines in the ring buffer only). When it returns, the previous
// function is no longer being called and never will be again.
func (i *Instance) SetLog(log func(line string)) {
	i.logMu.Lock()
	defer i.logMu.Unlock()
	i.logFn = log
}

// Done returns a channel closed once the instance has stopped for good.
func (i *Instance) Done() <-chan struct{} { return i.done }

func (i *Instance) line(s string) {
	s = i.label(s)
	i.out.add(s)
	i.logMu.Lock()
	defer i.logMu.Unlock()
	if i.logFn != nil {
		i.logFn(s)
	}
}

// label prefixes a line of output with the instance's slot, "[2] ", so
// that the interleaved output of a pool says which instance printed what.
// Slot 1 of an environment whose pool is one instance prints its lines as
// they are, so the common single-instance output reads as the app wrote
// it. The line is whole and already masked (InstanceSpec.Lines splits and
// masks before line is called), so the label never stands between the
// masker and a secret. A remote handle (no environment here) passes lines
// on as its edge labelled them.
func (i *Instance) label(s string) string {
	if i.es == nil || (i.slot <= 1 && !i.es.pooled.Load()) {
		return s
	}
	return "[" + strconv.Itoa(i.slot) + "] " + s
}

func (i *Instance) setState(s State) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.state = s
	if s == StateHealthy {
		i.down.Store(false) // it just passed its start health check
	}
	i.updateRoutableLocked()
}

// requestStop asks the supervisor to stop the instance for good.
func (i *Instance) requestStop() { i.stopReq(ErrStopped) }

// stop requests a stop and waits for it; when ctx ends first, the process
// group is killed without further grace.
func (i *Instance) stop(ctx context.Context) error {
	i.requestStop()
	select {
	case <-i.done:
		return nil
	case <-ctx.Done():
		i.killOnce.Do(func() { close(i.killCh) })
		<-i.done
		return fmt.Errorf("deploy: stop release %d in %s: %w", i.releaseID, i.env, ctx.Err())
	}
}

// drain waits until no request is being proxied to the instance, at most
// DrainTimeout, and less if ctx ends, the manager closes or the instance
// is stopped meanwhile.
func (i *Instance) drain(ctx context.Context) {
	i.closeSockets()
	if i.inflight.Load() == 0 {
		return
	}
	timeout := time.NewTimer(i.m.opts.DrainTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for i.inflight.Load() > 0 {
		select {
		case <-tick.C:
		case <-timeout.C:
			i.m.log.Warn("drain timed out", slog.String("env", i.env),
				slog.Int64("release", i.releaseID), slog.Int64("in_flight", i.inflight.Load()))
			return
		case <-ctx.Done():
			return
		case <-i.m.closing:
			return
		case <-i.stopCtx.Done():
			return
		}
	}
}

// run owns the instance's processes from the first start to the final
// stop. It sends exactly one result on ready: nil once the first process is
// healthy, or the *StartError that ended the instance.
func (i *Instance) run(startCtx context.Context, ready chan<- error) {
	defer close(i.done)
	defer i.m.forget(i)
	defer i.transport.CloseIdleConnections()

	p, err := i.startProcess(startCtx)
	if err != nil {
		i.setStopped()
		ready <- err
		return
	}
	i.setState(StateHealthy)
	ready <- nil
	go i.watch()
	i.supervise(p)
}

// supervise watches a healthy process, restarts it with backoff when it
// ends on its own, and stops it when asked.
func (i *Instance) supervise(p *proc) {
	o := i.m.opts
	failures := 0
	healthySince := time.Now()
	for {
		select {
		case <-i.stopCtx.Done():
			p.terminate(o.StopTimeout, i.killCh)
			i.setStopped()
			i.m.emit(Event{Kind: EventStopped, Env: i.env, ReleaseID: i.releaseID, PID: p.pid, Restarts: i.Status().Restarts})
			return
		case <-p.exited:
		}
		p.finish()
		pid := p.pid
		exit := p.exit(i.out.snapshot())
		reason := "process " + exit.describe()
		if time.Since(healthySince) >= o.RestartBackoffMax {
			failures = 0 // it ran well for a while: this is not a crash loop
		}
		for {
			delay := o.backoff(failures)
			failures++
			i.crashed(pid, exit, delay, reason)
			t := time.NewTimer(delay)
			select {
			case <-i.stopCtx.Done():
				t.Stop()
				i.setStopped()
				i.m.emit(Event{Kind: EventStopped, Env: i.env, ReleaseID: i.releaseID, Restarts: i.Status().Restarts})
				return
			case <-t.C:
			}
			i.mu.Lock()
			i.restarts++
			i.state = StateRestarting
			i.updateRoutableLocked()
			i.mu.Unlock()
			np, err := i.startProcess(context.Background())
			if err == nil {
				p = np
				healthySince = time.Now()
				i.setState(StateHealthy)
				i.m.log.Info("instance restarted", slog.String("env", i.env),
					slog.Int64("release", i.releaseID), slog.Int("pid", np.pid))
				i.m.emit(Event{Kind: EventRestarted, Env: i.env, ReleaseID: i.releaseID, PID: np.pid, Restarts: i.Status().Restarts})
				break
			}
			if errors.Is(err, ErrStopped) {
				i.setStopped()
				i.m.emit(Event{Kind: EventStopped, Env: i.env, ReleaseID: i.releaseID, Restarts: i.Status().Restarts})
				return
			}
			exit, reason, pid = nil, err.Error(), 0
			var se *StartError
			if errors.As(err, &se) {
				exit, pid = se.Exit, se.PID
			}
		}
	}
}

func (i *Instance) crashed(pid int, exit *Exit, delay time.Duration, reason string) {
	i.mu.Lock()
	i.state = StateCrashed
	i.updateRoutableLocked()
	i.pid = 0
	if exit != nil {
		i.lastExit = exit
	}
	restarts := i.restarts
	i.mu.Unlock()
	i.m.log.Warn("instance crashed", slog.String("env", i.env), slog.Int64("release", i.releaseID),
		slog.Int("pid", pid), slog.String("reason", reason), slog.Duration("restart_in", delay))
	i.m.emit(Event{Kind: EventCrashed, Env: i.env, ReleaseID: i.releaseID, PID: pid,
		Restarts: restarts, Delay: delay, Reason: reason, Exit: exit})
}

func (i *Instance) setStopped() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.state = StateStopped
	i.updateRoutableLocked()
	i.pid = 0
}

// startProcess starts one process and waits for its health check. On
// failure the process is gone and the error is a *StartError. A stop
// request or the end of ctx ends the wait.
func (i *Instance) startProcess(ctx context.Context) (*proc, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopWatch := context.AfterFunc(i.stopCtx, func() { cancel(ErrStopped) })
	defer stopWatch()

	serr := &StartError{Env: i.env, ReleaseID: i.releaseID}
	if err := ctx.Err(); err != nil {
		serr.Err = context.Cause(ctx)
		return nil, serr
	}
	p, port, err := i.spawn()
	if err != nil {
		serr.Err = err
		return nil, serr
	}
	serr.PID = p.pid
	detail, err := i.awaitHealthy(ctx, p, port)
	if err == nil {
		return p, nil
	}
	if errors.Is(err, ErrExited) {
		p.finish()
		serr.Exit = p.exit(nil)
	} else {
		p.terminate(i.m.opts.StopTimeout, i.killCh)
	}
	serr.Err, serr.Detail = err, detail
	serr.Output = i.out.snapshot()
	if serr.Exit != nil {
		serr.Exit.Lines = serr.Output
		i.mu.Lock()
		i.lastExit = serr.Exit
		i.mu.Unlock()
	}
	return nil, serr
}

// spawn starts the command with a fresh loopback PORT.
func (i *Instance) spawn() (*proc, int, error) {
	port, err := i.m.allocPort(i)
	if err != nil {
		return nil, 0, err
	}
	vars := maps.Clone(i.vars)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["PORT"] = strconv.Itoa(port)
	vars["HOST"] = "127.0.0.1"
	vars["BIND"] = "127.0.0.1"
	vars["SLIPWAY_INSTANCE"] = strconv.Itoa(i.slot)
	argv, dir, limit, err := i.m.appCommand(limitName(i.env, i.releaseID, i.slot), i.workDir, i.dir, i.command, vars)
	if err != nil {
		return nil, 0, fmt.Errorf("spawn: %w", err)
	}
	fifo := i.m.outputFIFOPath()
	p, err := startProcOpts(procOpts{detached: i.m.opts.Detached, fifo: fifo}, argv, dir, buildEnv(vars), i.lines, i.line)
	if err != nil {
		if limit != nil {
			_ = limit.Close()
		}
		return nil, 0, fmt.Errorf("spawn: %w", err)
	}
	i.m.recordGroup(p.pid, i.env)
	pid := p.pid
	p.onFinish = func() {
		if limit != nil {
			if err := limit.Close(); err != nil {
				i.m.log.Warn("deploy: process limit", slog.String("env", i.env), slog.Any("err", err))
			}
		}
		i.m.forgetGroup(pid)
		if fifo != "" {
			_ = os.Remove(fifo)
		}
	}
	start, _ := procStartTime(p.pid)
	i.target.Store(&url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	i.mu.Lock()
	i.pid, i.port, i.startedAt, i.procStart, i.outPath = p.pid, port, p.started, start, fifo
	i.mu.Unlock()
	i.m.log.Info("instance process started", slog.String("env", i.env), slog.Int64("release", i.releaseID),
		slog.Int("pid", p.pid), slog.Int("port", port))
	return p, port, nil
}

// awaitHealthy probes the app until it is healthy (nil), the process exits
// (ErrExited), HealthTimeout passes (ErrUnhealthy) or ctx ends (its cause).
// detail is the last probe failure.
func (i *Instance) awaitHealthy(ctx context.Context, p *proc, port int) (detail string, err error) {
	ctx, cancel := context.WithTimeoutCause(ctx, i.m.opts.HealthTimeout, ErrUnhealthy)
	defer cancel()
	interval := probeMinInterval
	for {
		perr := i.probe(ctx, port)
		if perr == nil {
			return "", nil
		}
		if detail == "" || ctx.Err() == nil {
			detail = perr.Error() // not the probe cut short by the deadline
		}
		t := time.NewTimer(interval)
		select {
		case <-p.exited:
			t.Stop()
			return detail, ErrExited
		case <-ctx.Done():
			t.Stop()
			return detail, context.Cause(ctx)
		case <-t.C:
		}
		interval = min(interval*2, probeMaxInterval)
	}
}

// probe checks the app once.
func (i *Instance) probe(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if i.health == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+i.health, nil)
	if err != nil {
		return err
	}
	resp, err := i.m.health.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", i.health, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", i.health, resp.Status)
	}
	return nil
}

// proxyError answers a request the app did not answer.
func (i *Instance) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away (or a drain closed its websocket); nobody reads an answer
	}
	i.failed()
	if a, ok := r.Context().Value(attemptKey{}).(*attempt); ok && a.canRetry(r, err) {
		a.retry = true // ServeHTTP sends it to another instance
		return
	}
	i.m.log.Debug("edge: app did not answer", slog.String("env", i.env),
		slog.Int64("release", i.releaseID), slog.Any("error", err))
	writePlain(w, http.StatusBadGateway, fmt.Sprintf(
		"502 Bad Gateway\n\nRelease %d of environment %s did not answer; it may be restarting.\n",
		i.releaseID, i.env))
}
