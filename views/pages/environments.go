package pages

import (
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
)

// ReleaseView is one release as pages show it.
type ReleaseView struct {
	ID           int64
	Project, Env string
	Status       string
	Reason       string
	// Note is the reason a person gave for a direct deploy.
	Note           string
	Rejected       bool
	ArtifactSHA256 string
	ConfigVersion  int64
	BuildID        int64
	BuildNumber    int64
	Ref            string
	Commit         string
	CommitMessage  string
	By             string
	CreatedAt      time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	RollbackOf     int64
	Source         int64
	Error          string
	// Candidate marks a release one can roll back to.
	Candidate bool
}

// ShortSHA is the artifact digest's first 12 characters.
func (r ReleaseView) ShortSHA() string { return models.ShortDigest(r.ArtifactSHA256) }

// Href is the release page.
func (r ReleaseView) Href() string { return "/releases/" + strconv.FormatInt(r.ID, 10) }

// EnvCard is one environment in the overview.
type EnvCard struct {
	Name      string
	URL       string
	Target    string
	Protected bool
	Paused    bool
	Live      *ReleaseView
	Active    *ReleaseView
	// Failed is the last deploy when it failed (newer than what is live).
	Failed *ReleaseView
	// RolledBack is set when what is live is a rollback.
	RolledBack bool
	// Behind says the previous environment runs a newer build ("" when
	// not); Pending links a promotion into this environment that waits.
	Behind  string
	Pending *PromotionSummary
}

// EnvProjectGroup is one project's chain of environments.
type EnvProjectGroup struct {
	Slug, Name string
	Envs       []EnvCard
}

// EnvironmentsPage is the overview of every project's environments.
type EnvironmentsPage struct {
	Now       time.Time
	CSRF      string
	CanManage bool
	Projects  []EnvProjectGroup
}

// InstanceView is one running instance of an environment.
type InstanceView struct {
	Role      string // live, warm, other
	ReleaseID int64
	Slot      int
	State     string
	// Health is "up" or "down" (health checks or ejection); Routable says
	// whether the edge sends it requests.
	Health    string
	Routable  bool
	PID, Port int
	Restarts  int
	RPS       float64
	Requests  int64
	Errors    int64
	InFlight  int64
	StartedAt time.Time
	WarmUntil time.Time
	LastExit  string
}

// InstancesPanel is the environment page's instances card; the card
// reloads itself from Href every second.
type InstancesPanel struct {
	Now  time.Time
	Href string
	CSRF string
	// ScaleHref is where the scale form posts; "" when the user may not scale.
	ScaleHref   string
	EngineKnown bool
	Process     bool // the process target; only it has instances
	// Setting is the environment's instances (0: as .slipway.yml says);
	// Desired what the engine was last asked for.
	Setting   int
	Desired   int
	Max       int
	Instances []InstanceView
	// Balance is how the edge spreads requests over the live pool
	// ("least-outstanding" or "round-robin"; "" when nothing is live).
	Balance string
}

// Serving counts the instances the edge sends requests to.
func (p InstancesPanel) Serving() int {
	n := 0
	for _, in := range p.Instances {
		if in.Role == "live" && in.Routable {
			n++
		}
	}
	return n
}

// EventView is one instance event.
type EventView struct {
	Kind, Message string
	ReleaseID     int64
	At            time.Time
	Output        string
}

// EnvironmentPage is one environment: what is live, its instances, the
// deploy in progress, the history.
type EnvironmentPage struct {
	Now              time.Time
	CSRF             string
	Project          string
	ProjectName      string
	Name             string
	URL              string
	Target           string
	AutoDeployBranch string
	Protected        bool
	Paused           bool
	PausedReason     string
	ConfigVersion    int64
	CanDeploy        bool
	CanManage        bool
	Live             *ReleaseView
	Active           *ReleaseView
	// Failed is the last deploy when it failed after what is live.
	Failed *ReleaseView
	// State is the signature of the deploy state the page was drawn from;
	// the page polls StateHref and reloads when it changes.
	State string
	// ActiveLog is the live log viewer of the Active release's deploy;
	// ActiveWaitingFor the release whose deploy it waits for (0: none).
	ActiveLog        *components.LogView
	ActiveWaitingFor int64
	// OutputLog is the live viewer of the live app's output (stdout and
	// stderr, masked); nil while a deploy shows its own log instead, or
	// when nothing of the environment runs here.
	OutputLog    *components.LogView
	Instances    InstancesPanel
	Events       []EventView
	Releases     []ReleaseView
	PreviousGood *ReleaseView
	// Builds can be deployed here from the page.
	Builds []BuildChoice
	// DeployRefusal says why the user may not deploy here now ("" when
	// they may); DeployNeedsReason asks an admin for a reason to deploy
	// during a freeze.
	DeployRefusal     string
	DeployNeedsReason bool
	// Promote offers "Promote to <next>" on the live release; nil when
	// there is no next environment or the user may not promote.
	Promote *PromoteView
	// Frozen describes an active freeze window ("" when none); admins may
	// still deploy with a reason.
	Frozen string

	// LoadTestHref starts a load-test plan of this environment; empty when
	// nothing is live or the user may not run load tests.
	LoadTestHref string
}

// BuildChoice is a deployable build in a select.
type BuildChoice struct {
	ID, Number  int64
	Ref, Commit string
	Message     string
	SHA         string
}

// Base is the environment's address in the portal.
func (p EnvironmentPage) Base() string {
	return models.Path("projects", p.Project, "environments", p.Name)
}

// ConfigEntryView is one variable of a release's configuration.
type ConfigEntryView struct {
	Name, Value string
	Secret      bool
}

// ReleasePage shows one release: what it deployed and how it went.
type ReleasePage struct {
	Now    time.Time
	CSRF   string
	R      ReleaseView
	Output string
	// Log is the deploy log in the live log viewer; WaitingFor is the
	// release whose deploy this one waits for (0: none).
	Log         components.LogView
	WaitingFor  int64
	Config      []ConfigEntryView
	CanRollBack bool
}

// VariableView is one variable in the settings; a secret's value is
// never in it.
type VariableView struct {
	Name      string
	Value     string
	Secret    bool
	UpdatedAt time.Time
}

// EnvironmentSettingsPage is the admin's settings of one environment.
type EnvironmentSettingsPage struct {
	Now              time.Time
	CSRF             string
	Project          string
	ProjectName      string
	Name             string
	Target           string
	ScriptCommand    string
	EdgeAddr         string
	AutoDeployBranch string
	Protected        bool
	ConfigVersion    int64
	Variables        []VariableView
	SecretsEnabled   bool
	// Instances is the environment's setting (0: as .slipway.yml says).
	Instances    int
	MaxInstances int
}

// Base is the environment's address in the portal.
func (p EnvironmentSettingsPage) Base() string {
	return models.Path("projects", p.Project, "environments", p.Name)
}

// DeployTarget is one environment a build can be deployed to.
type DeployTarget struct {
	Name      string
	Protected bool
	// Refusal says why the current user may not deploy there now ("" when
	// they may): the environment is protected, frozen, or the role cannot
	// deploy.
	Refusal string
	// NeedsReason asks an admin for a reason to deploy during a freeze.
	NeedsReason bool
	// LiveSHA is the digest live there now ("" when nothing is).
	LiveSHA string
	// Failed is the last deploy of this build's artifact there, when it
	// failed.
	Failed *ReleaseView
}

// Allowed says whether the current user may deploy there now.
func (t DeployTarget) Allowed() bool { return t.Refusal == "" }

// DeployButtonsView is the "Deploy to…" box of a build page.
type DeployButtonsView struct {
	Now     time.Time
	CSRF    string
	Project string
	BuildID int64
	// ArtifactSHA256 is the build's artifact; "" when it kept none.
	ArtifactSHA256 string
	Targets        []DeployTarget
}

// DeployWarning is something the person deploying should know before a
// direct deploy: Kind is "rolled-back", "failed", "rejected" or "gate".
type DeployWarning struct {
	Kind string
	Text string
	Href string
}

// ConfirmDeployPage confirms a direct deploy into a protected environment
// and asks for its reason.
type ConfirmDeployPage struct {
	Now            time.Time
	CSRF           string
	Project        string
	ProjectName    string
	Env            string
	BuildID        int64
	BuildNumber    int64
	Ref            string
	Commit         string
	CommitMessage  string
	ArtifactSHA256 string
	LiveRelease    int64
	LiveSHA        string
	Warnings       []DeployWarning
	// FreezeReason carries an admin's freeze override reason through.
	FreezeReason string
	// Approvals is how many approvals a promotion here would need.
	Approvals int
	Error     string
}

// Base is the environment's address.
func (p ConfirmDeployPage) Base() string { return envHref(p.Project, p.Env) }

// StateHref is where the environment page polls for a change of its
// deploy state.
func (p EnvironmentPage) StateHref() string { return p.Base() + "/state?since=" + p.State }
