// Package edge owns `slipway edge`: a long-lived process that holds the
// environments' edge listeners and their app instances, so that a restart
// or an upgrade of the portal never interrupts an environment's traffic.
//
// The portal drives it over a unix socket (mode 0600) with a declarative
// JSON API: per environment, the desired state (edge address, the releases
// that should run, the live one, the warm ones) carries a generation
// number, and every change names the generation it replaces
// (compare-and-swap; 409 on a mismatch). The edge reconciles towards the
// desired state, writes what it runs to a state file atomically, and after
// a restart or an upgrade re-adopts the app processes it finds still
// running instead of starting them again. Client implements deploy.Engine
// on top of the API, so the deploy jobs drive a remote edge exactly as
// they drive an in-process deploy.Manager.
package edge

import (
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
)

// APIVersion prefixes every route of the control API.
const APIVersion = "/v1"

// Desired is what the portal wants of one environment.
type Desired struct {
	// Env is the environment's engine key.
	Env string `json:"env"`
	// Generation is, in a PUT, the generation this state replaces (0 for
	// an environment the edge does not know); in an answer, the current
	// one.
	Generation int64 `json:"generation"`
	// EdgeAddr is the address the edge listens on ("" for no edge; port 0
	// picks a free port once, which the edge keeps).
	EdgeAddr string `json:"edge_addr,omitempty"`
	// Live is the release the edge serves (0: none yet). It must be in
	// Releases; the edge puts its warm pool back at once when it has one,
	// else rolls it out (batch by batch when another release serves), and
	// scales the live pool to its Instances.
	Live int64 `json:"live,omitempty"`
	// Releases holds how to run the live release (and nothing else).
	Releases []Release `json:"releases,omitempty"`
	// Warm are releases that may keep running, for an instant rollback,
	// until the edge's rollback window ends; they are never started.
	Warm []Release `json:"warm,omitempty"`
}

// Release says how to run one release of the environment.
type Release struct {
	ID int64 `json:"id"`
	// Instances is how many instances should serve it, 1 to
	// deploy.MaxInstances; 0 means 1.
	Instances int `json:"instances,omitempty"`
	// Batch is how many new instances a rolling deploy starts at a time;
	// 0 means a quarter of Instances, at least 1.
	Batch int `json:"batch,omitempty"`
	// Balance is how the edge spreads requests over the instances
	// (deploy.Balance; "" is least-outstanding).
	Balance deploy.Balance `json:"balance,omitempty"`
	// Dir, Command, Vars and HealthPath are deploy.InstanceSpec's.
	Dir        string            `json:"dir"`
	Command    string            `json:"command"`
	Vars       map[string]string `json:"vars,omitempty"`
	HealthPath string            `json:"health_path,omitempty"`
	// HealthTimeout bounds its start (the edge's default when 0).
	HealthTimeout time.Duration `json:"health_timeout,omitempty"`
}

// live returns the live release's Release.
func (ds Desired) live() (Release, bool) {
	for _, r := range ds.Releases {
		if r.ID == ds.Live && ds.Live != 0 {
			return r, true
		}
	}
	return Release{}, false
}

func (r Release) spec(env string) deploy.InstanceSpec {
	return deploy.InstanceSpec{Env: env, ReleaseID: r.ID, Dir: r.Dir, Command: r.Command, Vars: r.Vars, HealthPath: r.HealthPath}
}

// Status is what the edge runs for one environment.
type Status struct {
	Env        string `json:"env"`
	Generation int64  `json:"generation"`
	// EdgeAddr is the bound address ("" when no edge listens).
	EdgeAddr string `json:"edge_addr,omitempty"`
	// EdgeError says why the edge could not listen on Desired.EdgeAddr.
	EdgeError string `json:"edge_error,omitempty"`
	// EdgeAddrInUse is set when that is because the address is taken.
	EdgeAddrInUse bool `json:"edge_addr_in_use,omitempty"`
	// Live is the release the edge serves now (0: none).
	Live int64 `json:"live,omitempty"`
	// Desired is the size the live pool was last asked to have.
	Desired int `json:"desired,omitempty"`
	// Balance is how the edge spreads requests over the live pool.
	Balance deploy.Balance `json:"balance,omitempty"`
	// Busy is set while a rollout, a switch back or a scale runs.
	Busy bool `json:"busy,omitempty"`
	// ScaleError says why the last scale of the live pool failed.
	ScaleError string `json:"scale_error,omitempty"`
	// Instances lists every instance: the live pool by slot (during a
	// rolling deploy, of two releases), then the warm ones, then the rest.
	Instances []Instance `json:"instances"`
	// Failed lists the releases whose last start failed.
	Failed []Failure `json:"failed,omitempty"`
}

// Instance is one app instance of an environment.
type Instance struct {
	deploy.InstanceStatus
	// Role is "live", "warm" or "other" (starting, or not switched to).
	Role    string             `json:"role"`
	Process deploy.ProcessInfo `json:"process"`
}

// Failure is a release's failed start.
type Failure struct {
	ReleaseID int64         `json:"release_id"`
	Error     string        `json:"error"`
	Exited    bool          `json:"exited,omitempty"`
	Unhealthy bool          `json:"unhealthy,omitempty"`
	Detail    string        `json:"detail,omitempty"`
	Exit      *deploy.Exit  `json:"exit,omitempty"`
	Output    []string      `json:"output,omitempty"`
	At        time.Time     `json:"at"`
	Took      time.Duration `json:"took"`
}

// Info describes the edge process.
type Info struct {
	PID         int       `json:"pid"`
	Version     string    `json:"version"`
	ReleasesDir string    `json:"releases_dir"`
	WorkDir     string    `json:"work_dir"`
	Sandboxed   bool      `json:"sandboxed"`
	Notice      string    `json:"sandbox_notice,omitempty"`
	SandboxErr  string    `json:"sandbox_error,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	Adopted     int       `json:"adopted"`
}

// Message is one line of the event stream (GET /v1/events, one JSON
// object per line): an app's output line, a step of a rollout, or an
// instance event.
type Message struct {
	// Type is "line", "progress", "event", "ping", or "lost": messages
	// to this stream were dropped (it did not keep up); the lines are in
	// GET /v1/output.
	Type      string `json:"type"`
	Env       string `json:"env,omitempty"`
	ReleaseID int64  `json:"release_id,omitempty"`
	// Seq numbers a "line" within its (environment, release): it only
	// grows, across restarts and upgrades of the edge too; GET /v1/output
	// reads the lines after one.
	Seq   int64         `json:"seq,omitempty"`
	Line  string        `json:"line,omitempty"`
	Event *deploy.Event `json:"event,omitempty"`
}

// apiError is every error answer's body.
type apiError struct {
	Error      string `json:"error"`
	Generation int64  `json:"generation,omitempty"`
}
