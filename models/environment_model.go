package models

import (
	"strconv"
	"strings"
	"time"
)

// Deploy targets of an environment.
const (
	// TargetProcess runs the artifact's app behind the environment's edge proxy.
	TargetProcess = "process"
	// TargetScript runs the team's own deploy command.
	TargetScript = "script"
)

// Environment is one stage of a project's chain (dev → staging →
// production): where releases run, with what configuration, and the policy
// that guards deploys into it.
type Environment struct {
	ID        int64
	ProjectID int64
	Project   Project
	Name      string
	// Position orders the chain; promotion goes to the next position.
	Position int
	// Target is TargetProcess or TargetScript.
	Target        string
	ScriptCommand string
	// EdgeAddr is the host:port the environment's edge proxy listens on,
	// kept once chosen so the URL survives restarts; "" picks a free port
	// at the first deploy.
	EdgeAddr string
	// AutoDeployBranch deploys every successful build of that branch here;
	// "" means no auto-deploy.
	AutoDeployBranch       string
	AutoDeployPaused       bool
	AutoDeployPausedReason string
	// ConfigVersion is bumped on every change of variables, secrets or
	// target; a release records the version it ran with.
	ConfigVersion int64
	// Protected environments need the lead or admin role to deploy (and,
	// with promotions, approvals).
	Protected bool
	// The rest of the policy, filled in by promotions and approvals.
	ApprovalsRequired int
	ApproverRoles     string // comma-separated roles
	AllowSelfApproval bool
	RequireLoadTest   bool
	FreezeWindows     string // JSON array of windows
	// Instances is how many instances of the live release run behind the
	// edge (process target), 1 to MaxInstances; 0 means what the release's
	// .slipway.yml says (app.instances), else 1.
	Instances int
	// DeployLockReleaseID is the release whose deploy runs now: deploys to
	// one environment run one at a time.
	DeployLockReleaseID *int64
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// EngineKey is the environment's name in the deploy engine: stable across
// renames, unique across projects.
func (e *Environment) EngineKey() string { return "env-" + strconv.FormatInt(e.ID, 10) }

// URL is where the environment's edge serves, or "" before its first
// process deploy.
func (e *Environment) URL() string {
	if e.EdgeAddr == "" || e.Target != TargetProcess {
		return ""
	}
	return "http://" + e.EdgeAddr
}

// EnvironmentVariable is one variable of an environment. A secret keeps
// its value only sealed (ValueSealed) and is never shown back.
type EnvironmentVariable struct {
	ID            int64
	EnvironmentID int64
	Name          string
	Value         string
	Secret        bool
	ValueSealed   []byte
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// EnvironmentIDFromKey parses an EngineKey back into the environment ID.
func EnvironmentIDFromKey(key string) (int64, bool) {
	s, ok := strings.CutPrefix(key, "env-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// SecretAD is the additional data a secret variable's value is sealed
// with: the sealed bytes open only for that environment and name.
func SecretAD(envID int64, name string) []byte {
	return []byte("slipway:env-secret:" + strconv.FormatInt(envID, 10) + ":" + name)
}

// ReleaseSecretsAD is the additional data a release's secrets snapshot is
// sealed with: it opens only for releases of that environment.
func ReleaseSecretsAD(envID int64) []byte {
	return []byte("slipway:release-secrets:" + strconv.FormatInt(envID, 10))
}

// ConfigEntry is one variable in a release's configuration summary; the
// value of a secret is never in it.
type ConfigEntry struct {
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
	Secret bool   `json:"secret,omitempty"`
}
