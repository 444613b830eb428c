package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
)

// pollEvery is how often the client checks a change it waits for, and
// refreshes its instance handles.
const pollEvery = 25 * time.Millisecond

// ClientOptions configure a Client.
type ClientOptions struct {
	// Socket is the edge's control socket.
	Socket string
	// Logger receives the client's own messages.
	Logger *slog.Logger
	// OnEvent receives the instance events the edge reports (crashes,
	// restarts, stops), like deploy.Options.OnEvent.
	OnEvent func(deploy.Event)
	// HealthTimeout is the default bound of a start (5m when 0).
	HealthTimeout time.Duration
}

// Client drives a `slipway edge` over its control socket. It implements
// deploy.Engine: each call turns into a compare-and-swap of the
// environment's desired state, then waits for the edge to get there.
type Client struct {
	opts ClientOptions
	log  *slog.Logger
	http *http.Client
	info Info

	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu      sync.Mutex
	handles map[handleKey]*handle
}

type handleKey struct {
	env string
	rel int64
}

// handle is a remote instance handle and how its output is split.
type handle struct {
	inst *deploy.Instance
	mu   sync.Mutex
	w    io.WriteCloser      // spec.Lines around inst.RemoteLine; nil passes lines as they are
	mask deploy.LineSplitter // spec.Lines, for lines reported in events
	// ready is set once the edge runs the instance; until then the handle
	// is not ended for being absent from the status.
	ready atomic.Bool
	// progress receives the steps of a rollout of the release.
	progress atomic.Pointer[func(string)]
	// seq is the number of the last output line passed on (guarded by
	// mu): a line numbered at or below it is a repeat, one further on
	// shows a gap that the backlog fills first.
	seq int64
}

var _ deploy.Engine = (*Client)(nil)

// Dial connects to the edge at opts.Socket and checks that it answers.
func Dial(ctx context.Context, opts ClientOptions) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 5 * time.Minute
	}
	c := &Client{opts: opts, log: opts.Logger, http: &http.Client{Transport: socketTransport(opts.Socket, true)}, handles: map[handleKey]*handle{}}
	if err := c.do(ctx, http.MethodGet, "/info", nil, &c.info); err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.bg.Go(c.followEvents)
	c.bg.Go(c.refreshHandles)
	return c, nil
}

// socketTransport talks HTTP over the unix socket at path; keepAlive
// reuses connections between requests.
func socketTransport(path string, keepAlive bool) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 8,
		DisableKeepAlives:   !keepAlive,
	}
}

// Probe asks the edge on socket who it is, on a connection of its own
// (so a dead edge shows at once), without following the edge as a Client
// does.
func Probe(ctx context.Context, socket string) (Info, error) {
	c := &Client{opts: ClientOptions{Socket: socket}, http: &http.Client{Transport: socketTransport(socket, false)}}
	var in Info
	err := c.do(ctx, http.MethodGet, "/info", nil, &in)
	return in, err
}

// Info is what the edge said of itself when the client connected.
func (c *Client) Info() Info { return c.info }

// Upgrade asks the edge to start its binary anew and hand over.
func (c *Client) Upgrade(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/upgrade", nil, nil)
}

// Close stops following the edge; the edge and its apps keep running.
func (c *Client) Close(ctx context.Context) error {
	if c.cancel != nil {
		c.cancel()
	}
	c.bg.Wait()
	c.http.CloseIdleConnections()
	return nil
}

// APIError is an error answer of the edge.
type APIError struct {
	Status     int
	Message    string
	Generation int64
}

func (e *APIError) Error() string { return fmt.Sprintf("edge: %s (%d)", e.Message, e.Status) }

// ErrConflict is matched by an APIError with status 409.
var ErrConflict = errors.New("edge: generation conflict")

// Is makes errors.Is(err, ErrConflict) work.
func (e *APIError) Is(target error) bool {
	return target == ErrConflict && e.Status == http.StatusConflict
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://edge"+APIVersion+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("edge at %s: %w", c.opts.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var ae apiError
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ae)
		return &APIError{Status: resp.StatusCode, Message: ae.Error, Generation: ae.Generation}
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func q(env string) string { return "?env=" + url.QueryEscape(env) }

// Desired returns env's desired state.
func (c *Client) Desired(ctx context.Context, env string) (Desired, error) {
	var ds Desired
	err := c.do(ctx, http.MethodGet, "/env/desired"+q(env), nil, &ds)
	return ds, err
}

// Put replaces env's desired state if its generation is still
// ds.Generation; errors.Is(err, ErrConflict) tells a lost race.
func (c *Client) Put(ctx context.Context, ds Desired) (int64, error) {
	var out struct {
		Generation int64 `json:"generation"`
	}
	err := c.do(ctx, http.MethodPut, "/env"+q(ds.Env), ds, &out)
	return out.Generation, err
}

// EnvStatus returns what the edge runs for env (ok false when it does not
// know env).
func (c *Client) EnvStatus(ctx context.Context, env string) (Status, bool, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/env"+q(env), nil, &st)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return Status{Env: env}, false, nil
	}
	return st, err == nil, err
}

// Envs returns the status of every environment the edge runs.
func (c *Client) Envs(ctx context.Context) ([]Status, error) {
	var out []Status
	err := c.do(ctx, http.MethodGet, "/envs", nil, &out)
	return out, err
}

// update applies change to env's desired state with compare-and-swap,
// reading it again after a lost race.
func (c *Client) update(ctx context.Context, env string, change func(*Desired) error) error {
	for {
		ds, err := c.Desired(ctx, env)
		if err != nil {
			return err
		}
		ds.Env = env
		if err := change(&ds); err != nil {
			return err
		}
		if _, err = c.Put(ctx, ds); !errors.Is(err, ErrConflict) {
			return err
		}
	}
}

// waitFor polls env's status until cond says done (or fails).
func (c *Client) waitFor(ctx context.Context, env string, cond func(Status) (bool, error)) (Status, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		st, _, err := c.EnvStatus(ctx, env)
		if err != nil {
			return st, err
		}
		if done, err := cond(st); done || err != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// EnsureEdge implements deploy.Engine.
func (c *Client) EnsureEdge(env, addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, ok, err := c.EnvStatus(ctx, env); err != nil {
		return "", err
	} else if ok && st.EdgeAddr != "" && (anyPort(addr) || sameAddr(addr, st.EdgeAddr)) {
		return st.EdgeAddr, nil
	}
	err := c.update(ctx, env, func(ds *Desired) error { ds.EdgeAddr = addr; return nil })
	if err != nil {
		return "", err
	}
	st, err := c.waitFor(ctx, env, func(st Status) (bool, error) {
		switch {
		case st.EdgeAddrInUse:
			return true, fmt.Errorf("edge for %s: cannot listen on %s: %w", env, addr, deploy.ErrAddrInUse)
		case st.EdgeError != "":
			return true, errors.New(st.EdgeError)
		}
		return st.EdgeAddr != "" && (anyPort(addr) || sameAddr(addr, st.EdgeAddr)), nil
	})
	return st.EdgeAddr, err
}

func (f *Failure) startError(spec deploy.InstanceSpec) error {
	se := &deploy.StartError{Env: spec.Env, ReleaseID: spec.ReleaseID, Detail: f.Detail, Exit: f.Exit, Output: f.Output}
	switch {
	case f.Exited:
		se.Err = deploy.ErrExited
	case f.Unhealthy:
		se.Err = deploy.ErrUnhealthy
	default:
		se.Err = errors.New(f.Error)
	}
	return se
}

// Attach returns a handle on env's running instance of releaseID, whose
// output lines go through lines (nil: as they come) to log: a restarted
// portal takes the live instance's output up again. The lines after line
// after that the edge kept while nobody followed come first, in order
// (after < 0: only the lines from now on); then the handle goes on live.
// OutputPositions tells how far it got. It returns nil when the edge runs
// no such instance.
func (c *Client) Attach(env string, releaseID int64, lines deploy.LineSplitter, log func(string), after int64) *deploy.Instance {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, ok, err := c.EnvStatus(ctx, env)
	if err != nil || !ok {
		return nil
	}
	in := instanceOf(st, releaseID)
	if in == nil {
		return nil
	}
	if after < 0 {
		after = c.lastSeq(ctx, env, releaseID)
	}
	h := c.handle(env, releaseID, lines, log, after)
	c.refresh(h, in)
	h.ready.Store(true)
	if err := c.catchUp(ctx, h, env, releaseID); err != nil {
		c.log.Warn("edge: the output kept while the portal was away could not be read", slog.String("env", env),
			slog.Int64("release", releaseID), slog.Any("err", err))
	}
	return h.inst
}

// OutputPosition is how far the client passed a release's output on.
type OutputPosition struct {
	Env       string `json:"env"`
	ReleaseID int64  `json:"release_id"`
	// Seq is the number of the last line passed on (0: none yet).
	Seq int64 `json:"seq"`
}

// OutputPositions returns, for every instance handle, the number of the
// last output line it passed on: every line up to it went to the
// handle's log function. A portal that stores them (after its store has
// the lines) gives them back to Attach after a restart.
func (c *Client) OutputPositions() []OutputPosition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]OutputPosition, 0, len(c.handles))
	for k, h := range c.handles {
		h.mu.Lock()
		out = append(out, OutputPosition{Env: k.env, ReleaseID: k.rel, Seq: h.seq})
		h.mu.Unlock()
	}
	return out
}

// Backlog reads the lines of env's release rel after line after that the
// edge keeps (after -1: none, only where its output stands). The lines are
// as the app printed them, secrets included: nothing may show or store
// them before the release's LineSplitter masked them (Attach does).
func (c *Client) Backlog(ctx context.Context, env string, rel, after int64) (Backlog, error) {
	var bl Backlog
	err := c.do(ctx, http.MethodGet, "/output"+q(env)+"&release="+strconv.FormatInt(rel, 10)+"&after="+strconv.FormatInt(after, 10), nil, &bl)
	return bl, err
}

// lastSeq is the number of the last line of env's release rel (0 when
// unknown).
func (c *Client) lastSeq(ctx context.Context, env string, rel int64) int64 {
	bl, err := c.Backlog(ctx, env, rel, -1)
	if err != nil {
		return 0
	}
	return bl.Last
}

// catchUp passes on the lines of h's release that the edge kept after the
// last one h passed on: after a reconnect of the event stream, a line lost
// on the way, or a portal restart. Lines the backlog no longer holds are
// replaced by one line saying how many.
func (c *Client) catchUp(ctx context.Context, h *handle, env string, rel int64) error {
	for {
		h.mu.Lock()
		after := h.seq
		h.mu.Unlock()
		bl, err := c.Backlog(ctx, env, rel, after)
		if err != nil {
			return err
		}
		h.mu.Lock()
		if bl.Last > h.seq && h.seq+1 < bl.First {
			if n := bl.First - max(h.seq+1, bl.Start); n > 0 {
				h.writeLocked(lostLines(n))
			}
			h.seq = bl.First - 1
		}
		for _, l := range bl.Lines {
			h.passLocked(l.Seq, l.Line)
		}
		h.mu.Unlock()
		if !bl.More || len(bl.Lines) == 0 {
			return nil
		}
	}
}

// lostLines is the line that stands for n lines the edge did not keep.
func lostLines(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	word := "lines"
	if n == 1 {
		word = "line"
	}
	return fmt.Sprintf("[slipway] … %s %s printed while the portal was away were not kept: the edge keeps only the most recent output of each release", s, word)
}

// Status implements deploy.Engine.
func (c *Client) Status(env string) deploy.EnvStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, _, err := c.EnvStatus(ctx, env)
	out := deploy.EnvStatus{Env: env}
	if err != nil {
		return out
	}
	out.EdgeAddr, out.LiveReleaseID, out.Desired, out.Balance = st.EdgeAddr, st.Live, st.Desired, st.Balance
	for _, in := range st.Instances {
		in.LastExit = withoutLines(in.LastExit) // raw output: the edge does not mask
		switch in.Role {
		case "live":
			s := in.InstanceStatus
			if out.Live == nil && s.ReleaseID == st.Live {
				out.Live = &s
			}
			out.Pool = append(out.Pool, s)
		case "warm":
			out.Warm = append(out.Warm, in.InstanceStatus)
		default:
			out.Other = append(out.Other, in.InstanceStatus)
		}
	}
	return out
}

// StopEnv implements deploy.Engine.
func (c *Client) StopEnv(env string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		ds, err := c.Desired(ctx, env)
		if err != nil {
			return err
		}
		err = c.do(ctx, http.MethodDelete, "/env"+q(env)+"&generation="+strconv.FormatInt(ds.Generation, 10), nil, nil)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
}

var digestRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ReleaseDir returns where the artifact with digest is unpacked: the edge
// runs on this host and reads the same data dir.
func (c *Client) ReleaseDir(digest string) (string, error) {
	if !digestRE.MatchString(digest) {
		return "", fmt.Errorf("edge: release dir: %w: bad digest %q", deploy.ErrInvalid, digest)
	}
	return filepath.Join(c.info.ReleasesDir, digest), nil
}

// WorkDir returns env's work dir on the edge.
func (c *Client) WorkDir(env string) string {
	if env == "" {
		return ""
	}
	return filepath.Join(c.info.WorkDir, url.PathEscape(env))
}

// Sandbox reports how the edge runs apps.
func (c *Client) Sandbox() (bool, string, error) {
	if c.info.SandboxErr != "" {
		return false, "", fmt.Errorf("%s: %w", c.info.SandboxErr, deploy.ErrSandboxUnavailable)
	}
	return c.info.Sandboxed, c.info.Notice, nil
}

func instanceOf(st Status, rel int64) *Instance {
	for i := range st.Instances {
		if st.Instances[i].ReleaseID == rel && st.Instances[i].State != deploy.StateStopped {
			return &st.Instances[i]
		}
	}
	return nil
}

// handle returns the handle of env's release, making one that passes on
// the output lines after line seq.
func (c *Client) handle(env string, rel int64, lines deploy.LineSplitter, log func(string), seq int64) *handle {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := handleKey{env, rel}
	h := c.handles[k]
	if h == nil {
		h = &handle{inst: deploy.NewRemoteInstance(env, rel, 0), seq: seq}
		c.handles[k] = h
	}
	if log != nil {
		h.inst.SetLog(log)
	}
	if lines != nil {
		h.mu.Lock()
		h.w, h.mask = lines(h.inst.RemoteLine), lines
		h.mu.Unlock()
	}
	return h
}

// maskAll passes lines through split (masking secrets) and returns what
// it emits. The edge keeps an app's output as the app printed it; only the
// portal knows the secrets, so every line that leaves the client for a
// page, a log or an event goes through here first.
func maskAll(split deploy.LineSplitter, lines []string) []string {
	if split == nil || len(lines) == 0 {
		return lines
	}
	var out []string
	w := split(func(l string) { out = append(out, l) })
	for _, l := range lines {
		_, _ = io.WriteString(w, l+"\n")
	}
	_ = w.Close()
	return out
}

func (c *Client) dropHandle(env string, rel int64, h *handle) {
	c.mu.Lock()
	if c.handles[handleKey{env, rel}] == h {
		delete(c.handles, handleKey{env, rel})
	}
	c.mu.Unlock()
	h.end()
}

func (h *handle) end() {
	h.mu.Lock()
	if h.w != nil {
		_ = h.w.Close()
		h.w = nil
	}
	h.mu.Unlock()
	h.inst.EndRemote()
}

func (h *handle) line(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writeLocked(s)
}

// writeLocked passes s on. The caller holds h.mu.
func (h *handle) writeLocked(s string) {
	if h.w != nil {
		_, _ = io.WriteString(h.w, s+"\n") // masked on this side, before anything stores it
		return
	}
	h.inst.RemoteLine(s)
}

// passLocked passes on line seq unless it was already. The caller holds
// h.mu.
func (h *handle) passLocked(seq int64, s string) {
	if seq <= h.seq {
		return
	}
	h.writeLocked(s)
	h.seq = seq
}

// take passes on line seq if it is the next one (or drops a repeat), and
// reports false when lines are missing before it.
func (h *handle) take(seq int64, s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq > h.seq+1 {
		return false
	}
	h.passLocked(seq, s)
	return true
}

// pass passes on line seq unless it was already.
func (h *handle) pass(seq int64, s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.passLocked(seq, s)
}

func (c *Client) refresh(h *handle, in *Instance) {
	if in == nil {
		return
	}
	st := in.InstanceStatus
	if st.LastExit != nil {
		h.mu.Lock()
		mask := h.mask
		h.mu.Unlock()
		e := withoutLines(st.LastExit)
		if mask != nil {
			e.Lines = maskAll(mask, st.LastExit.Lines)
		}
		st.LastExit = e
	}
	h.inst.UpdateRemote(st, in.Process)
}

// withoutLines copies e without its output lines.
func withoutLines(e *deploy.Exit) *deploy.Exit {
	if e == nil {
		return nil
	}
	c := *e
	c.Lines = nil
	return &c
}

// refreshHandles keeps the handles' status current and ends the handles
// of instances the edge no longer runs.
func (c *Client) refreshHandles() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		envs := map[string]bool{}
		for k := range c.handles {
			envs[k.env] = true
		}
		c.mu.Unlock()
		for env := range envs {
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			st, ok, err := c.EnvStatus(ctx, env)
			cancel()
			if err != nil {
				continue // the edge may be upgrading: try again later
			}
			c.mu.Lock()
			for k, h := range c.handles {
				if k.env != env {
					continue
				}
				in := instanceOf(st, k.rel)
				if !h.ready.Load() {
					continue // still starting
				}
				if !ok || in == nil {
					delete(c.handles, k)
					go h.end()
					continue
				}
				c.refresh(h, in)
			}
			c.mu.Unlock()
		}
	}
}

// followEvents reads the edge's event stream, reconnecting after an edge
// restart or upgrade, and passes output lines to the handles and events
// to OnEvent.
func (c *Client) followEvents() {
	for c.ctx.Err() == nil {
		if err := c.readEvents(); err != nil && c.ctx.Err() == nil {
			c.log.Debug("edge events: reconnecting", slog.Any("err", err))
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Client) readEvents() error {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://edge"+APIVersion+"/events", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	caughtUp := false
	for sc.Scan() {
		var m Message
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if !caughtUp {
			// Subscribed: what was printed while the stream was down is
			// in the backlog, and from now on in the stream too.
			caughtUp = true
			c.catchUpAll()
		}
		switch m.Type {
		case "lost":
			c.catchUpAll()
		case "progress":
			c.mu.Lock()
			h := c.handles[handleKey{m.Env, m.ReleaseID}]
			c.mu.Unlock()
			if h != nil {
				if p := h.progress.Load(); p != nil {
					(*p)(m.Line)
				}
			}
		case "line":
			c.mu.Lock()
			h := c.handles[handleKey{m.Env, m.ReleaseID}]
			c.mu.Unlock()
			switch {
			case h == nil:
			case m.Seq == 0: // an edge that does not number lines
				h.line(m.Line)
			case !h.take(m.Seq, m.Line):
				// Lines were lost on the way (a full subscriber queue):
				// the backlog has them.
				ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
				if err := c.catchUp(ctx, h, m.Env, m.ReleaseID); err != nil && c.ctx.Err() == nil {
					c.log.Warn("edge: lines missing from the event stream could not be read", slog.String("env", m.Env),
						slog.Int64("release", m.ReleaseID), slog.Any("err", err))
				}
				cancel()
				h.pass(m.Seq, m.Line)
			}
		case "event":
			if m.Event == nil || c.opts.OnEvent == nil {
				continue
			}
			ev := *m.Event
			if ev.Exit != nil && len(ev.Exit.Lines) > 0 {
				c.mu.Lock()
				h := c.handles[handleKey{m.Env, m.ReleaseID}]
				c.mu.Unlock()
				var mask deploy.LineSplitter
				if h != nil {
					h.mu.Lock()
					mask = h.mask
					h.mu.Unlock()
				}
				if mask != nil {
					ev.Exit.Lines = maskAll(mask, ev.Exit.Lines)
				} else {
					// Nothing here knows this instance's secrets: its
					// raw output stays in the edge.
					ev.Exit.Lines = []string{"(output not shown: this portal did not start the instance; see the environment's output)"}
				}
			}
			c.opts.OnEvent(ev)
		}
	}
	return sc.Err()
}

// catchUpAll catches every handle up with the backlog.
func (c *Client) catchUpAll() {
	c.mu.Lock()
	hs := make(map[handleKey]*handle, len(c.handles))
	maps.Copy(hs, c.handles)
	c.mu.Unlock()
	for k, h := range hs {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		if err := c.catchUp(ctx, h, k.env, k.rel); err != nil && c.ctx.Err() == nil {
			c.log.Warn("edge: the output printed while the event stream was down could not be read", slog.String("env", k.env),
				slog.Int64("release", k.rel), slog.Any("err", err))
		}
		cancel()
	}
}

func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := net.ResolveTCPAddr("tcp", a)
	tb, err2 := net.ResolveTCPAddr("tcp", b)
	return err1 == nil && err2 == nil && ta.Port == tb.Port && ta.IP.Equal(tb.IP)
}
