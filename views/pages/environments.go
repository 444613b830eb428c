package pages

import (
	"strconv"
	"time"
)

// ReleaseView is one release as pages show it.
type ReleaseView struct {
	ID             int64
	Project, Env   string
	Status         string
	Reason         string
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
func (r ReleaseView) ShortSHA() string {
	if len(r.ArtifactSHA256) > 12 {
		return r.ArtifactSHA256[:12]
	}
	return r.ArtifactSHA256
}

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
	State     string
	PID, Port int
	Restarts  int
	StartedAt time.Time
	WarmUntil time.Time
	LastExit  string
}

// EventView is one instance event.
type EventView struct {
	Kind, Message string
	ReleaseID     int64
	At            time.Time
	Output        string
}

// LogLine is one numbered line of a deploy log.
type LogLine struct {
	N    int
	Text string
}

// ReleaseLog is a deploy log fragment; while the deploy runs it polls.
type ReleaseLog struct {
	ReleaseID  int64
	Status     string
	WaitingFor int64
	Lines      []LogLine
	Done       bool
	// More says how many earlier lines were left out.
	More int
}

// Href is the fragment's address.
func (l ReleaseLog) Href() string {
	return "/releases/" + strconv.FormatInt(l.ReleaseID, 10) + "/log"
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
	ActiveLog        *ReleaseLog
	EngineKnown      bool
	Instances        []InstanceView
	Events           []EventView
	Releases         []ReleaseView
	PreviousGood     *ReleaseView
	// Builds can be deployed here from the page.
	Builds []BuildChoice
	// Promote offers "Promote to <next>" on the live release; nil when
	// there is no next environment or the user may not promote.
	Promote *PromoteView
	// Frozen describes an active freeze window ("" when none); admins may
	// still deploy with a reason.
	Frozen            string
	CanOverrideFreeze bool
}

// BuildChoice is a deployable build in a select.
type BuildChoice struct {
	ID, Number  int64
	Ref, Commit string
	Message     string
	SHA         string
}

// Base is the environment's address in the portal.
func (p EnvironmentPage) Base() string { return "/projects/" + p.Project + "/environments/" + p.Name }

// ConfigEntryView is one variable of a release's configuration.
type ConfigEntryView struct {
	Name, Value string
	Secret      bool
}

// ReleasePage shows one release: what it deployed and how it went.
type ReleasePage struct {
	Now         time.Time
	CSRF        string
	R           ReleaseView
	Output      string
	Log         ReleaseLog
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
}

// Base is the environment's address in the portal.
func (p EnvironmentSettingsPage) Base() string {
	return "/projects/" + p.Project + "/environments/" + p.Name
}

// DeployTarget is one environment a build can be deployed to.
type DeployTarget struct {
	Name      string
	Protected bool
	// Allowed says whether the current user may deploy there.
	Allowed bool
	// LiveSHA is the digest live there now ("" when nothing is).
	LiveSHA string
}

// DeployButtonsView is the "Deploy to…" box of a build page.
type DeployButtonsView struct {
	CSRF    string
	Project string
	BuildID int64
	// ArtifactSHA256 is the build's artifact; "" when it kept none.
	ArtifactSHA256 string
	Targets        []DeployTarget
}
