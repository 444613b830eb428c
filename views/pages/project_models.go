package pages

import "time"

// BuildChip is one build as a small status link.
type BuildChip struct {
	ID        int64
	Number    int64
	Status    string
	Ref       string
	CommitSHA string
	Trigger   string
	CreatedAt time.Time
}

// ProjectRow is one line of the projects list.
type ProjectRow struct {
	Slug          string
	Name          string
	RepoURL       string
	DefaultBranch string
	PollInterval  int64
	LastBuild     *BuildChip
	CreatedAt     time.Time
}

// ProjectsPage is the list of linked repositories.
type ProjectsPage struct {
	Now       time.Time
	CanCreate bool
	Projects  []ProjectRow
}

// ProjectForm is what the new-project form shows (again, after an error).
type ProjectForm struct {
	Name, Slug, RepoURL, DefaultBranch string
	PollInterval                       int64
	// Hosted is the "hosted by Slipway" choice.
	Hosted bool
}

// PollOption is one choice of the poll interval select.
type PollOption struct {
	Seconds int64
	Label   string
}

// NewProjectPage is the form that links a repository.
type NewProjectPage struct {
	CSRF         string
	Form         ProjectForm
	PollOptions  []PollOption
	CanLinkLocal bool
	// Error and ErrorField describe why creating failed; the field is the
	// input's name ("repo_url"), so the page can mark it.
	Error, ErrorField string
	// HadDeployKey says a key was pasted but is not echoed back.
	HadDeployKey bool
}

// ConnectionCheck is the answer of "Check connection".
type ConnectionCheck struct {
	OK            bool
	Message       string
	Branches      int
	Tags          int
	DefaultBranch string
	RemoteHead    string
}

// ProjectPage is one project's screen.
type ProjectPage struct {
	CSRF          string
	Now           time.Time
	Slug          string
	Name          string
	RepoURL       string
	DefaultBranch string
	PollInterval  int64
	HasDeployKey  bool
	CreatedAt     time.Time
	WebhookURL    string
	// WebhookSecret is empty unless CanSeeSecret.
	WebhookSecret string
	CanSeeSecret  bool
	CanRunBuild   bool
	// IsDemo marks the demo project for a user who may ship changes to
	// it; DemoVersion is what its repository has committed.
	IsDemo      bool
	DemoVersion string
	// Hosted marks a repository Slipway hosts; CloneURL is its address.
	Hosted   bool
	CloneURL string
	// ProtectDefaultBranch and AllowForcePush are the hosted repository's
	// push policy; CanManage may change them.
	ProtectDefaultBranch bool
	AllowForcePush       bool
	CanManage            bool
}

// BranchRow is one branch with its head and newest builds.
type BranchRow struct {
	Name      string
	HeadSHA   string
	IsDefault bool
	// Gone marks a branch that has builds but no longer exists upstream.
	Gone   bool
	Builds []BuildChip
}

// BranchesFragment is the project page's branch list, loaded on its own
// because it may have to ask the remote.
type BranchesFragment struct {
	CSRF        string
	Now         time.Time
	Slug        string
	CanRunBuild bool
	// Error is why the remote could not be listed; branches known from
	// builds are still shown.
	Error    string
	Branches []BranchRow
	// More counts branches left out to keep the page short.
	More int
}
