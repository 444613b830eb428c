package models

import (
	"strconv"
	"time"
)

// Release statuses.
const (
	ReleasePending    = "pending"
	ReleaseDeploying  = "deploying"
	ReleaseLive       = "live"
	ReleaseFailed     = "failed"
	ReleaseSuperseded = "superseded"
	ReleaseRolledBack = "rolled_back"
)

// Release reasons: why a release was made.
const (
	ReasonDeploy    = "deploy"
	ReasonRollback  = "rollback"
	ReasonAuto      = "auto"
	ReasonPromotion = "promotion"
)

// ReleaseFinished reports whether a release status is final for its deploy.
func ReleaseFinished(status string) bool {
	return status != ReleasePending && status != ReleaseDeploying
}

// Release is an artifact deployed into an environment with the
// configuration version it ran with. Releases are history: their artifact,
// build and configuration never change after creation.
type Release struct {
	ID             int64
	EnvironmentID  int64
	Environment    Environment
	BuildID        *int64
	Build          *Build
	ArtifactSHA256 string
	ConfigVersion  int64
	// ConfigSealed is the environment's variables (secrets included) at the
	// time of the release, as sealed JSON; a rollback restores them.
	ConfigSealed []byte
	// ConfigSummary lists the variables as JSON without secret values, for
	// display and configuration diffs.
	ConfigSummary string
	Status        string
	// Rejected marks a release rolled back in this environment: it is no
	// rollback candidate.
	Rejected    bool
	CreatedByID *int64
	CreatedBy   *User
	Reason      string
	// Note is the reason a person gave for a direct deploy into a
	// protected environment.
	Note string
	// RollbackOfID is the release a rollback replaced.
	RollbackOfID *int64
	// SourceReleaseID is the release whose artifact and configuration a
	// rollback restores (or a promotion takes).
	SourceReleaseID *int64
	// InstanceReleaseID names the running instance that serves this
	// release in the deploy engine: its own ID, or the source's when a
	// rollback switched back to a warm instance.
	InstanceReleaseID *int64
	JobID             int64
	Error             string
	// Output keeps the last lines a failed instance printed.
	Output     string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// LogStream names the release's deploy log stream in internal/logs.
func (r *Release) LogStream() string { return DeployLogStream(r.ID) }

// ShortSHA is the artifact digest's first 12 characters.
func (r *Release) ShortSHA() string { return ShortDigest(r.ArtifactSHA256) }

// Ref names the release as users see it ("#42").
func (r *Release) Ref() string { return "#" + strconv.FormatInt(r.ID, 10) }

// Release event kinds (besides the deploy engine's crashed, restarted and
// stopped).
const (
	EventRestored = "restored"
)

// ReleaseEvent is something that happened to a release's running instance:
// a crash, a restart, a stop, a restore after the portal restarted.
type ReleaseEvent struct {
	ID            int64
	EnvironmentID int64
	ReleaseID     int64
	Kind          string
	Message       string
	PID           int
	Restarts      int
	ExitCode      *int
	Output        string
	CreatedAt     time.Time
}
