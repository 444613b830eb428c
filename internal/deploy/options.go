package deploy

import (
	"log/slog"
	"net"
	"time"
)

// DefaultDrainTimeout is Options.DrainTimeout when not set: how long
// in-flight requests may take to finish on an instance that leaves.
const DefaultDrainTimeout = 30 * time.Second

// Options configures a Manager. Zero values take the documented defaults.
type Options struct {
	// ReleasesDir is where unpacked artifacts live; a relative
	// InstanceSpec.Dir is resolved against it, and ReleaseDir names the
	// directory for a digest.
	ReleasesDir string
	// WorkDir holds one persistent work dir per environment (see
	// Manager.WorkDir): the app's working directory and the only place it
	// may write. Empty runs apps in their release directory (tests).
	WorkDir string
	// StateFile records the app process groups that run, so that
	// ReapOrphans can end what a killed portal left behind. Empty turns
	// that off.
	StateFile string
	// Sandbox says whether app instances run in bubblewrap (auto when
	// empty); only when WorkDir is set. See Manager.Sandbox.
	Sandbox SandboxMode
	// MaxProcs bounds the tasks of one sandboxed app process tree (a pids
	// cgroup, else RLIMIT_NPROC). Default DefaultMaxProcs.
	MaxProcs int
	// Logger receives the manager's own messages (never app output).
	Logger *slog.Logger
	// DrainTimeout bounds the wait for in-flight requests before an old
	// instance or an edge is stopped. Default 30s.
	DrainTimeout time.Duration
	// WarmFor is the rollback window: how long a replaced instance keeps
	// running for an instant switch back. Default 10m; negative stops the
	// replaced instance as soon as it has drained.
	WarmFor time.Duration
	// MaxWarm bounds the warm instances per environment; the oldest is
	// stopped first. Default 2.
	MaxWarm int
	// HealthTimeout bounds the wait for a new process to pass its health
	// check. Default 30s.
	HealthTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL. Default 30s.
	StopTimeout time.Duration
	// RestartBackoffMin and RestartBackoffMax bound the exponential delay
	// before a crashed instance is restarted. Defaults 1s and 30s. The delay
	// starts again from the minimum once a process has stayed up for
	// RestartBackoffMax.
	RestartBackoffMin time.Duration
	RestartBackoffMax time.Duration
	// ResponseHeaderTimeout bounds how long the edge waits for an app's
	// response headers. Default 60s.
	ResponseHeaderTimeout time.Duration
	// HealthInterval is how often a running instance's health is checked
	// (each check bounded by 2s): healthDownAt failures in a row take it
	// out of rotation, healthUpAfter passes bring it back. Default 1s.
	HealthInterval time.Duration
	// Balance is how the edge spreads requests over a pool. Default
	// BalanceLeastOutstanding.
	Balance Balance
	// OutputLines is how many lines of an instance's output are kept for
	// Status and errors. Default 200.
	OutputLines int
	// Detached starts app processes that outlive this process: each in its
	// own session, without a parent-death signal or bwrap's
	// --die-with-parent, its output going through a FIFO in OutputDir that
	// a later process reads again after Adopt. `slipway edge` sets it so
	// that its restart or upgrade never kills an app. Requires OutputDir.
	Detached bool
	// OutputDir holds the output FIFOs of detached app processes.
	OutputDir string
	// Listen opens an edge's listener; nil means net.Listen. An edge that
	// hands its listeners to its successor on upgrade passes its own.
	Listen func(network, addr string) (net.Listener, error)
	// OnEvent, if set, receives restarts, crashes and stops, in order per
	// instance, from the instance's supervisor goroutine: it should return
	// quickly. It may call the Manager.
	OnEvent func(Event)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DrainTimeout, DefaultDrainTimeout)
	if o.WarmFor == 0 {
		o.WarmFor = 10 * time.Minute
	}
	if o.MaxWarm <= 0 {
		o.MaxWarm = 2
	}
	def(&o.HealthTimeout, 30*time.Second)
	def(&o.StopTimeout, 30*time.Second)
	def(&o.HealthInterval, time.Second)
	if o.Balance == "" {
		o.Balance = BalanceLeastOutstanding
	}
	def(&o.RestartBackoffMin, time.Second)
	def(&o.RestartBackoffMax, 30*time.Second)
	if o.RestartBackoffMax < o.RestartBackoffMin {
		o.RestartBackoffMax = o.RestartBackoffMin
	}
	def(&o.ResponseHeaderTimeout, 60*time.Second)
	if o.OutputLines <= 0 {
		o.OutputLines = 200
	}
	return o
}

// backoff is the delay before restart number n+1 of a crash loop.
func (o Options) backoff(n int) time.Duration {
	d := o.RestartBackoffMin
	for range n {
		d *= 2
		if d >= o.RestartBackoffMax {
			return o.RestartBackoffMax
		}
	}
	return d
}
