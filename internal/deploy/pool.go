package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxInstances bounds the instances of one environment's pool.
const MaxInstances = 16

// Balance names how the edge spreads requests over a pool.
type Balance string

// ParseBalance checks a balancing strategy's name ("" is the default).
func ParseBalance(s string) (Balance, error) {
	switch b := Balance(s); b {
	case "", BalanceLeastOutstanding, BalanceRoundRobin:
		return b, nil
	}
	return "", fmt.Errorf("%w: balance %q: want %s or %s", ErrInvalid, s, BalanceLeastOutstanding, BalanceRoundRobin)
}

// Balancing strategies.
const (
	// BalanceLeastOutstanding sends each request to the routable instance
	// with the fewest requests in flight, taking turns among equals.
	BalanceLeastOutstanding Balance = "least-outstanding"
	// BalanceRoundRobin sends requests to the routable instances in turn.
	BalanceRoundRobin Balance = "round-robin"
)

// Passive ejection: an instance that fails ejectErrors requests within
// ejectWindow is taken out of rotation until its active health check
// passes healthUpAfter times in a row.
const (
	ejectErrors   = 3
	ejectWindow   = 10 * time.Second
	healthDownAt  = 3 // consecutive failed checks that take an instance out
	healthUpAfter = 2 // consecutive passed checks that bring it back
)

// pool is the set of instances of one release the edge serves. A pool is
// never changed once stored: every change stores a new one, so the edge
// reads it without a lock.
type pool struct {
	releaseID int64
	members   []*Instance
	// balance is how the release's RolloutSpec asked to balance ("": the
	// manager's Options.Balance).
	balance Balance
}

// newPool returns the pool of members of release rel, balanced as their
// release asked.
func newPool(rel int64, members []*Instance) *pool {
	p := &pool{releaseID: rel, members: members}
	for _, m := range members {
		if m.set != nil {
			p.balance = m.set.balance
			break
		}
	}
	return p
}

func (p *pool) has(inst *Instance) bool { return p != nil && slices.Contains(p.members, inst) }

// with returns a copy of p with inst added.
func (p *pool) with(releaseID int64, inst *Instance) *pool {
	if p == nil {
		return newPool(releaseID, []*Instance{inst})
	}
	return &pool{releaseID: releaseID, members: append(slices.Clone(p.members), inst), balance: p.balance}
}

// without returns a copy of p without insts.
func (p *pool) without(insts ...*Instance) *pool {
	np := &pool{releaseID: p.releaseID, balance: p.balance}
	for _, m := range p.members {
		if !slices.Contains(insts, m) {
			np.members = append(np.members, m)
		}
	}
	return np
}

// first returns the pool's first member, or nil.
func (p *pool) first() *Instance {
	if p == nil || len(p.members) == 0 {
		return nil
	}
	return p.members[0]
}

// pick chooses the instance for the next request, skipping skip; nil when
// no member can take it.
func (e *envState) pick(p *pool, skip *Instance) *Instance {
	n := len(p.members)
	if n == 0 {
		return nil
	}
	start := int(e.rr.Add(1) % uint64(n))
	roundRobin := cmp.Or(p.balance, e.m.opts.Balance) == BalanceRoundRobin
	var best *Instance
	for k := range n {
		inst := p.members[(start+k)%n]
		if inst == skip || !inst.routable.Load() {
			continue
		}
		if roundRobin {
			return inst
		}
		if best == nil || inst.inflight.Load() < best.inflight.Load() {
			best = inst
		}
	}
	return best
}

// attempt carries one proxied request's retry decision from the proxy's
// error handler back to ServeHTTP.
type attempt struct {
	first bool
	body  *replayBody
	retry bool
}

type attemptKey struct{}

// canRetry says whether a request that failed with err may go to another
// instance: always when the connection was never made and no byte of the
// body was read (the app never saw it), and after other failures only for
// an idempotent method without a body.
func (a *attempt) canRetry(r *http.Request, err error) bool {
	if !a.first || r.Context().Err() != nil {
		return false
	}
	if a.body != nil && a.body.read {
		return false
	}
	if isDialError(err) {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return a.body == nil
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayBody lets a request body survive a failed attempt: the transport
// closes the body it was given, but a retry after a dial failure needs the
// same, still unread, body.
type replayBody struct {
	rc   io.ReadCloser
	read bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.read = true
	}
	return n, err
}

func (b *replayBody) Close() error { return nil } // the server closes the real body

// ServeHTTP proxies one request to an instance of the live pool, and once
// more to another instance when the first could not be reached (see
// attempt.canRetry).
//
// The in-flight count is what makes draining safe: a request counts against
// the instance it is sent to before it is sent. After counting, the live
// pool is read again; if the instance has left it in between, the request
// is uncounted and sent elsewhere. So once a pool without an instance is
// stored, a drainer that sees a count of zero on it knows no request can
// still reach it.
func (e *envState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := &attempt{first: true}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		a.body = &replayBody{rc: r.Body}
		r.Body = a.body
	}
	r = r.WithContext(context.WithValue(r.Context(), attemptKey{}, a))
	var tried *Instance
	for {
		p := e.live.Load()
		if p == nil || len(p.members) == 0 {
			writePlain(w, http.StatusBadGateway, "502 Bad Gateway\n\nNo release is live in environment "+e.name+".\n")
			return
		}
		inst := e.pick(p, tried)
		if inst == nil {
			writePlain(w, http.StatusServiceUnavailable, "503 Service Unavailable\n\nNo instance of environment "+e.name+
				" is healthy right now; it may be restarting.\n")
			return
		}
		inst.inflight.Add(1)
		if !e.live.Load().has(inst) {
			inst.inflight.Add(-1)
			continue
		}
		a.retry = false
		inst.serve(w, r)
		inst.inflight.Add(-1)
		if !a.retry {
			return
		}
		a.first, tried = false, inst
	}
}

// serve proxies r to the instance, counting it, and lets a drain close it
// when it became a websocket.
func (i *Instance) serve(w http.ResponseWriter, r *http.Request) {
	i.requests.Add(1)
	if !isUpgrade(r) {
		i.proxy.ServeHTTP(w, r)
		return
	}
	// Canceling the outgoing request's context closes an upgraded
	// connection: that is how a drain closes websockets.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	id := i.addSocket(cancel)
	defer i.dropSocket(id)
	i.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

func (i *Instance) addSocket(cancel context.CancelFunc) uint64 {
	i.wsMu.Lock()
	defer i.wsMu.Unlock()
	i.wsNext++
	if i.ws == nil {
		i.ws = map[uint64]context.CancelFunc{}
	}
	i.ws[i.wsNext] = cancel
	return i.wsNext
}

func (i *Instance) dropSocket(id uint64) {
	i.wsMu.Lock()
	defer i.wsMu.Unlock()
	delete(i.ws, id)
}

// closeSockets closes the websockets proxied to the instance.
func (i *Instance) closeSockets() {
	i.wsMu.Lock()
	defer i.wsMu.Unlock()
	for _, cancel := range i.ws {
		cancel()
	}
}

// failed counts an error of the instance (a transport failure or a 5xx)
// and ejects it after ejectErrors within ejectWindow, unless it is the
// last routable member of the live pool.
func (i *Instance) failed() {
	i.errors.Add(1)
	now := time.Now()
	i.errMu.Lock()
	i.errTimes = append(i.errTimes, now)
	if len(i.errTimes) > ejectErrors {
		i.errTimes = i.errTimes[len(i.errTimes)-ejectErrors:]
	}
	eject := len(i.errTimes) == ejectErrors && now.Sub(i.errTimes[0]) <= ejectWindow
	if eject {
		i.errTimes = i.errTimes[:0]
	}
	i.errMu.Unlock()
	if !eject || i.down.Load() {
		return
	}
	if p := i.es.live.Load(); p.has(i) {
		others := 0
		for _, m := range p.members {
			if m != i && m.routable.Load() {
				others++
			}
		}
		if others == 0 {
			return // ejecting the last one would turn errors into 503s for everyone
		}
	}
	i.setDown(true, "ejected after "+strconv.Itoa(ejectErrors)+" errors within "+ejectWindow.String())
}
